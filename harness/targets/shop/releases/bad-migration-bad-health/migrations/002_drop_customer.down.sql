-- Brings the column back; the values it held are gone.
ALTER TABLE orders ADD COLUMN IF NOT EXISTS customer text NOT NULL DEFAULT '';
