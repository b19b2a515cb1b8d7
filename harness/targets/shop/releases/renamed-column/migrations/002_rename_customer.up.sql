-- A rename in one step: this release reads the new name, the running one the old.
ALTER TABLE orders RENAME COLUMN customer TO customer_name;
