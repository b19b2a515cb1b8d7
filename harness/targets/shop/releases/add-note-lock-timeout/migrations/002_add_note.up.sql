-- The same column, but the DDL gives up after 1 s of waiting for its lock: the migration
-- fails, the deploy aborts, and the queries queued behind it go on.
SET lock_timeout = '1s';
ALTER TABLE orders ADD COLUMN IF NOT EXISTS note text;
