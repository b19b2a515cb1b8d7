-- Brings the old column back, filled from the new one.
ALTER TABLE orders ADD COLUMN IF NOT EXISTS customer text NOT NULL DEFAULT '';
UPDATE orders SET customer = coalesce(customer_name, '');
