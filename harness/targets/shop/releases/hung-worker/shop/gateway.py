"""The payment gateway, called without a timeout: this release hangs on the first job.

It is stuck the way a process in a blocking call is stuck: SIGTERM does not reach
Python code, so only supervisord's SIGKILL after its stop timeout ends it.
"""

import signal
import time


def charge(order_id):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(3600)
