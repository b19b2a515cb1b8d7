"""Load for the reference app: browse orders, create one, check it."""

import random

from locust import HttpUser, between, task


class Shopper(HttpUser):
    # About four requests a second per user. The wait is random so that users do not
    # fall into step: arrivals stay spread out, and a failure window is seen to the 10 ms.
    wait_time = between(0.15, 0.3)

    def on_start(self):
        self.created = []

    @task(3)
    def browse(self):
        self.client.get("/orders", name="GET /orders")

    @task(2)
    def create(self):
        payload = {"item": random.choice(["tea", "cake", "jam"]), "qty": random.randint(1, 3), "customer": "locust"}
        # Each order is one of a thousand customers: a flag on for 5% of users meets about 5% of orders.
        user = {"X-User": f"customer-{random.randint(1, 1000)}"}
        with self.client.post("/orders", json=payload, headers=user, name="POST /orders",
                              catch_response=True) as resp:
            if resp.status_code == 201:
                self.created.append(resp.json()["id"])
                self.created = self.created[-20:]
            else:
                resp.failure(f"status {resp.status_code}")

    @task(2)
    def check(self):
        if self.created:
            self.client.get(f"/orders/{random.choice(self.created)}", name="GET /orders/[id]")
        else:
            self.client.get("/orders", name="GET /orders")
