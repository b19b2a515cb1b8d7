-- Destructive: the running release still selects this column.
ALTER TABLE orders DROP COLUMN customer;
