-- shop:no-transaction
-- An index built without blocking writes. CREATE INDEX CONCURRENTLY first commits the
-- index to the catalogue, then waits for every transaction that may write to orders; the
-- statement_timeout cancels that wait behind a long transaction, and what is left is an
-- INVALID index. IF NOT EXISTS then makes a rerun "succeed" on top of it.
SET statement_timeout = '3s';
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_created_idx ON orders (created_at);
