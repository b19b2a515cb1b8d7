-- An order status as an enum type, a column of it and an index on it.
CREATE TYPE order_status AS ENUM ('new', 'paid', 'shipped');
ALTER TABLE orders ADD COLUMN status order_status;
CREATE INDEX orders_status_idx ON orders (status);
