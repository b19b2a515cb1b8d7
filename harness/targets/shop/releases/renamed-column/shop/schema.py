"""The order columns this release reads and writes: only the new customer_name, shown
to clients under its old API name."""

ORDER_COLUMNS = ("id", "item", "qty", "customer_name", "paid")
WRITE_COLUMNS = ("item", "qty", "customer_name")
API_NAMES = {"customer_name": "customer"}
