"""The order columns this release reads and writes: it writes the region, which its
migration makes required."""

ORDER_COLUMNS = ("id", "item", "qty", "customer", "paid")
WRITE_COLUMNS = ("item", "qty", "customer", "region")
