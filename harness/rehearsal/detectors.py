"""Detectors, modelled on what a team has: an error-rate alert on the request stream, an
uptime-style health poller and a queue-lag check. Each raises a timestamped alarm."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from harness.config.scenario import ErrorRateDetector
from harness.errors import DockerUnavailable, HarnessError
from harness.results.records import Record
from harness.results.timeline import Clock


@dataclass(frozen=True)
class Alarm:
    detector: str
    ts: float
    detail: str


@dataclass(frozen=True)
class Check:
    """One probe result: green or not, with what it saw."""

    ok: bool
    detail: str


class ErrorRate:
    """Fires when failures in the last `window_s` of requests reach `threshold`.

    Fed records in order of arrival; time is the records' own timestamps, so a replay of
    a records file raises the same alarms.
    """

    name = "error_rate"

    def __init__(self, config: ErrorRateDetector, latency_limit_s: float | None = None) -> None:
        self.config = config
        self.latency_limit_ms = None if latency_limit_s is None else latency_limit_s * 1000
        self.window: deque[tuple[float, bool]] = deque()
        self.failures = 0
        self.firing = False

    def bad(self, record: Record) -> bool:
        slow = self.latency_limit_ms is not None and record.latency_ms > self.latency_limit_ms
        return record.failed or slow

    def feed(self, record: Record) -> Alarm | None:
        end = record.ts + record.latency_ms / 1000
        bad = self.bad(record)
        self.window.append((end, bad))
        self.failures += bad
        while self.window and self.window[0][0] < end - self.config.window_s:
            _, was_bad = self.window.popleft()
            self.failures -= was_bad
        total = len(self.window)
        rate = self.failures / total if total else 0.0
        if not self.firing and total >= self.config.min_requests and rate >= self.config.threshold:
            self.firing = True
            return Alarm(self.name, end, f"{self.failures}/{total} requests failed in {self.config.window_s:g}s")
        if self.firing and rate < self.config.threshold:
            self.firing = False
        return None


class Poller:
    """Runs `check` every `interval_s`; after `failures` red checks in a row, raises an alarm.

    A check that raises is the instrument failing, not the service: it is neither red nor
    green, `on_broken` hears of the first failure of a streak, and `broken_since` says
    since when (None while the check runs). The exception is a HarnessError other than
    DockerUnavailable: the host answered with a failure (a refused query, a stopped
    container), which is the service, red. `step` does one check and is what unit tests
    drive; `start` runs it on a thread.
    """

    def __init__(
        self,
        name: str,
        check: Callable[[], Check],
        interval_s: float,
        failures: int,
        on_alarm: Callable[[Alarm], None],
        on_change: Callable[[str, bool, str], None],
        clock: Clock,
        on_broken: Callable[[str, str], None] | None = None,
    ) -> None:
        self.name = name
        self.check = check
        self.interval_s = interval_s
        self.failures = failures
        self.on_alarm = on_alarm
        self.on_change = on_change
        self.clock = clock
        self.red_in_a_row = 0
        self.green: bool | None = None
        self.firing = False
        self.on_broken = on_broken
        self.broken_since: float | None = None
        self.broken_detail = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> Check:
        try:
            result = self.check()
        except HarnessError as exc:
            if isinstance(exc, DockerUnavailable):
                return self._broken(exc)
            # The host answered with a failure (a query the database refused, a container
            # that stopped): that is the service, red.
            result = Check(False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300])
        except Exception as exc:  # the probe could not run: says nothing of the service
            return self._broken(exc)
        self.broken_since = None
        now = self.clock()
        if result.ok != self.green:
            self.green = result.ok
            self.on_change(self.name, result.ok, result.detail)
        if result.ok:
            self.red_in_a_row = 0
            self.firing = False
        else:
            self.red_in_a_row += 1
            if self.red_in_a_row >= self.failures and not self.firing:
                self.firing = True
                self.on_alarm(Alarm(self.name, now, result.detail))
        return result

    def _broken(self, exc: BaseException) -> Check:
        detail = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
        if self.broken_since is None:
            self.broken_since = self.clock()
            if self.on_broken is not None:
                self.on_broken(self.name, detail)
        self.broken_detail = detail
        return Check(False, detail)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.step()
            self._stop.wait(self.interval_s)

    def start(self) -> Poller:
        self._thread = threading.Thread(target=self._loop, name=f"detector-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
