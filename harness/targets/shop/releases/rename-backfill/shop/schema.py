"""The order columns this release reads and writes: it writes both names of the
customer column and still reads the old one."""

ORDER_COLUMNS = ("id", "item", "qty", "customer", "paid")
WRITE_COLUMNS = ("item", "qty", "customer", "customer_name")
