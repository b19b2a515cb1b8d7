"""The order columns this release reads and writes."""

ORDER_COLUMNS = ("id", "item", "qty", "customer", "paid")
WRITE_COLUMNS = ("item", "qty", "customer")
