-- shop:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS orders_created_idx;
