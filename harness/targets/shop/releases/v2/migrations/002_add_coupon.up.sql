-- Expand only: a nullable column the previous release simply ignores.
ALTER TABLE orders ADD COLUMN IF NOT EXISTS coupon text;
