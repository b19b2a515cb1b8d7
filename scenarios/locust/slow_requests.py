"""Load for drain rehearsals: shoppers browsing as usual, and callers whose requests take
a set time (shop's /slow?ms=), some shorter and some longer than the app server's
graceful timeout, so that a reload always finds both kinds in flight."""

import itertools
import random

from locust import HttpUser, between, task

# Seconds each slow request asks for; shop's graceful timeout is 10 s.
DURATIONS_S = (2, 5, 8, 14, 20)
_next = itertools.cycle(DURATIONS_S)


class Shopper(HttpUser):
    weight = 2
    wait_time = between(0.15, 0.3)

    @task
    def browse(self):
        self.client.get("/orders", name="GET /orders")


class SlowCaller(HttpUser):
    """Each caller asks for one duration, over and over, with a random pause so the
    callers' requests are spread across any moment a reload may begin."""

    weight = 3
    wait_time = between(0.0, 1.0)

    def on_start(self):
        self.duration_ms = next(_next) * 1000

    @task
    def slow(self):
        self.client.get(f"/slow?ms={self.duration_ms}", name=f"GET /slow?ms={self.duration_ms}")
