"""The order columns this release reads and writes: v2 adds an optional coupon."""

ORDER_COLUMNS = ("id", "item", "qty", "customer", "paid", "coupon")
WRITE_COLUMNS = ("item", "qty", "customer", "coupon")
