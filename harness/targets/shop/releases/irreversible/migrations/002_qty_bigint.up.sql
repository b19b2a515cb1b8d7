-- Widens qty. There is no down script: the team decided this one never goes back.
ALTER TABLE orders ALTER COLUMN qty TYPE bigint;
