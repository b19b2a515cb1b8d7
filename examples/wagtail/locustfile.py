"""Load for the Wagtail example: read the home page, open the admin login, check health."""

from locust import HttpUser, between, task


class Visitor(HttpUser):
    # About four requests a second per user. The wait is random so that users do not
    # fall into step: arrivals stay spread out, and a failure window is seen to the 10 ms.
    wait_time = between(0.15, 0.3)

    @task(8)
    def home(self):
        self.client.get("/", name="GET /")

    @task(1)
    def admin_login(self):
        self.client.get("/admin/login/", name="GET /admin/login/")

    @task(1)
    def health(self):
        self.client.get("/health/", name="GET /health/")
