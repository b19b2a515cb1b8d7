-- Widen orders.qty to bigint. Every statement the live release prepared that returns qty
-- now has a cached plan whose result type changed: PostgreSQL refuses to run it ("cached
-- plan must not change result type") until the connection that prepared it is gone.
ALTER TABLE orders ALTER COLUMN qty TYPE bigint;
