ALTER TABLE orders DROP COLUMN IF EXISTS customer_name;
