"""The order columns this release reads and writes, and its jobs: it enqueues payments as
"charge_v2" (a new payload), which its own worker takes, and the previous release's does not."""

ORDER_COLUMNS = ("id", "item", "qty", "customer", "paid")
WRITE_COLUMNS = ("item", "qty", "customer")
JOB_KINDS = ("charge", "charge_v2")
ENQUEUE_KIND = "charge_v2"
