"""Steady test traffic against a replica's loopback URL, every response recorded."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Traffic:
    url: str
    rate: float = 80.0
    threads: int = 4
    records: list[tuple[float, str, int, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def _loop(self, n: int) -> None:
        interval = self.threads / self.rate
        with httpx.Client(base_url=self.url, timeout=5.0) as client:
            i = 0
            next_at = time.monotonic()
            while not self._stop.is_set():
                i += 1
                kind = ("GET /orders", "POST /orders", "GET /version")[(i + n) % 3]
                started = time.time()
                try:
                    if kind == "POST /orders":
                        resp = client.post("/orders", json={"item": "tea", "qty": 1, "customer": f"c{n}"})
                    else:
                        resp = client.get(kind.split()[1])
                    body: Any = resp.json() if kind == "GET /version" and resp.status_code == 200 else {}
                    self.records.append((started, kind, resp.status_code, body.get("release", "")))
                except httpx.HTTPError as exc:
                    self.records.append((started, kind, 0, type(exc).__name__))
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> Traffic:
        for n in range(self.threads):
            t = threading.Thread(target=self._loop, args=(n,), daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._workers:
            t.join(timeout=10)

    @property
    def failed(self) -> list[tuple[float, str, int, str]]:
        return [r for r in self.records if not 200 <= r[2] < 300]

    def rate_achieved(self) -> float:
        if len(self.records) < 2:
            return 0.0
        span = self.records[-1][0] - self.records[0][0]
        return len(self.records) / span if span > 0 else 0.0

    def versions(self) -> list[str]:
        """The releases /version reported, in order, with repeats collapsed."""
        seen: list[str] = []
        for _, kind, status, release in sorted(self.records):
            if kind == "GET /version" and status == 200 and (not seen or seen[-1] != release):
                seen.append(release)
        return seen
