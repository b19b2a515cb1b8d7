-- Incomplete: the column (and its index) go, the type stays behind. The rollback
-- "succeeds"; the next deploy of this migration fails at CREATE TYPE.
ALTER TABLE orders DROP COLUMN IF EXISTS status;
