-- A harmless nullable column. Its ALTER TABLE still needs an ACCESS EXCLUSIVE lock on
-- orders: behind a long transaction it waits, with no lock_timeout for as long as that
-- takes, and every query on orders queues behind it.
ALTER TABLE orders ADD COLUMN IF NOT EXISTS note text;
