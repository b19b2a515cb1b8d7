"""The payment gateway the worker calls for each order. A release may make it slow
(GATEWAY_DELAY_MS in its config), so its worker falls behind the orders under load."""

import time

from shop import config

DELAY_S = float(config.load().get("GATEWAY_DELAY_MS") or 0) / 1000


def charge(order_id):
    if DELAY_S:
        time.sleep(DELAY_S)
    return True
