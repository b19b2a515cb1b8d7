-- Expand: the new column, nullable, beside the old one. Every running release ignores it.
ALTER TABLE orders ADD COLUMN IF NOT EXISTS customer_name text;
