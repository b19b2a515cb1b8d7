"""Load for the reference app: browse orders, create one, check it."""

import random

from locust import HttpUser, constant_pacing, task


class Shopper(HttpUser):
    # Each user makes about four requests a second, whatever the latency.
    wait_time = constant_pacing(0.25)

    def on_start(self):
        self.created = []

    @task(3)
    def browse(self):
        self.client.get("/orders", name="GET /orders")

    @task(2)
    def create(self):
        payload = {"item": random.choice(["tea", "cake", "jam"]), "qty": random.randint(1, 3), "customer": "locust"}
        with self.client.post("/orders", json=payload, name="POST /orders", catch_response=True) as resp:
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
