-- Contract: drop the old column once no release in service reads or writes it.
ALTER TABLE orders DROP COLUMN customer;
