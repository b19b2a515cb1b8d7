-- A required column in one step: the rows there get 'eu', then the default goes, so every
-- insert must name the region. The running release's inserts do not: they fail from the
-- moment this commits, while every read (and /health) stays green.
ALTER TABLE orders ADD COLUMN region text NOT NULL DEFAULT 'eu';
ALTER TABLE orders ALTER COLUMN region DROP DEFAULT;
