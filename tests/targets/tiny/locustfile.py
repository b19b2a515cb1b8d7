"""Visitors asking tiny for its greeting."""

from locust import HttpUser, between, task


class Visitor(HttpUser):
    wait_time = between(0.05, 0.15)

    @task
    def greeting(self) -> None:
        self.client.get("/", name="GET /")
