"""The watch: what a team's monitoring sees while the rehearsal runs. It reads the
request records as they grow, runs the detectors, logs alarms and probe changes to the
timeline, and shows progress."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from harness.config.scenario import Scenario
from harness.environment.replica import Replica, Staging
from harness.rehearsal.detectors import Alarm, Check, ErrorRate, Poller
from harness.rehearsal.load import check_host
from harness.results.records import RecordTail
from harness.results.timeline import Clock, Timeline

TICK_S = 0.05
PROGRESS_EVERY_S = 2.0
RECENT_S = 30.0


@dataclass(frozen=True)
class Stats:
    total: int
    failed: int

    @property
    def error_rate(self) -> float:
        return self.failed / self.total if self.total else 0.0


def health_check(http: httpx.Client, path: str) -> Callable[[], Check]:
    def check() -> Check:
        try:
            resp = http.get(path)
        except httpx.HTTPError as exc:
            return Check(False, f"no answer: {type(exc).__name__}")
        if resp.status_code == 200:
            return Check(True, "200")
        try:
            failed = resp.json().get("failed") or []
        except ValueError:
            failed = []
        return Check(False, f"{resp.status_code}" + (f" failed {', '.join(failed)}" if failed else ""))

    return check


def queue_lag_check(
    staging: Staging, replica: Replica, database: str, sql: str, max_age_s: float
) -> Callable[[], Check]:
    def check() -> Check:
        rows = staging.sql(replica, database, sql)
        value = rows[0][0] if rows and rows[0] and rows[0][0] != "" else None
        if value is None:
            return Check(True, "no pending job")
        age = float(value)
        return Check(age <= max_age_s, f"oldest pending job {age:.1f}s old")

    return check


class Watch:
    def __init__(
        self,
        scenario: Scenario,
        staging: Staging,
        replica: Replica,
        timeline: Timeline,
        records: RecordTail,
        progress: Callable[[str], None] | None = None,
        clock: Clock = time.time,
        allow_remote: bool = False,
    ) -> None:
        self.scenario = scenario
        self.timeline = timeline
        self.tail = records
        self.progress = progress
        self.clock = clock
        self.started = clock()
        self.phase = "starting"
        self.alarms: list[Alarm] = []
        self.probes: dict[str, tuple[bool, str, float]] = {}
        self.recent: deque[tuple[float, bool]] = deque()
        self.total = 0
        self.failed = 0
        self.last_bad_ts: float | None = None
        self.last_progress = 0.0
        self._lock = threading.Lock()
        detectors = scenario.detectors
        self.error_rate = (
            ErrorRate(detectors.error_rate, scenario.load.latency_limit_s) if detectors.error_rate else None
        )
        url = check_host(replica.url, allow_remote)
        self.pollers: list[Poller] = []
        self.clients: list[httpx.Client] = []
        if detectors.health is not None:
            http = httpx.Client(base_url=url, timeout=detectors.health.timeout_s)
            self.clients.append(http)
            self.pollers.append(Poller("health", health_check(http, scenario.target.run.health_path),
                                       detectors.health.interval_s, detectors.health.failures,
                                       self._alarm, self._probe_changed, clock))
        if detectors.queue_lag is not None and scenario.target.queue is not None:
            check = queue_lag_check(staging, replica, scenario.target.database, scenario.target.queue.lag_sql,
                                    detectors.queue_lag.max_age_s)
            self.pollers.append(Poller("queue_lag", check, detectors.queue_lag.interval_s, 1,
                                       self._alarm, self._probe_changed, clock))

    # --- detector callbacks (may run on poller threads) ---------------------------

    def _alarm(self, alarm: Alarm) -> None:
        with self._lock:
            self.alarms.append(alarm)
        self.timeline.record("alarm_raised", ts=alarm.ts, detector=alarm.detector, detail=alarm.detail,
                             phase=self.phase)

    def _probe_changed(self, name: str, ok: bool, detail: str) -> None:
        with self._lock:
            self.probes[name] = (ok, detail, self.clock())
        self.timeline.record("probe_changed", detector=name, ok=ok, detail=detail)

    # --- life ---------------------------------------------------------------------

    def start(self) -> Watch:
        for poller in self.pollers:
            poller.start()
        return self

    def stop(self) -> None:
        for poller in self.pollers:
            poller.stop()
        for client in self.clients:
            client.close()
        self.poll()

    def __enter__(self) -> Watch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self.timeline.record("phase_started", phase=phase)
        self.show(force=True)

    # --- the stream -----------------------------------------------------------------

    def poll(self) -> None:
        for record in self.tail.read_new():
            end = record.ts + record.latency_ms / 1000
            bad = record.failed or record.latency_ms > self.scenario.load.latency_limit_s * 1000
            self.total += 1
            self.failed += record.failed
            if bad:
                self.last_bad_ts = max(self.last_bad_ts or end, end)
            self.recent.append((end, bad))
            if self.error_rate is not None:
                alarm = self.error_rate.feed(record)
                if alarm is not None:
                    self._alarm(alarm)
        horizon = self.clock() - RECENT_S
        while self.recent and self.recent[0][0] < horizon:
            self.recent.popleft()
        self.show()

    def stats(self, seconds: float) -> Stats:
        since = self.clock() - seconds
        window = [bad for end, bad in self.recent if end >= since]
        return Stats(len(window), sum(window))

    def sleep(self, seconds: float) -> None:
        self.wait_for(lambda: False, seconds)

    def wait_for(self, done: Callable[[], bool], timeout: float) -> bool:
        deadline = self.clock() + timeout
        while True:
            self.poll()
            if done():
                return True
            if self.clock() >= deadline:
                return False
            time.sleep(TICK_S)

    def alarms_since(self, ts: float) -> list[Alarm]:
        with self._lock:
            return [a for a in self.alarms if a.ts >= ts]

    def red_probes(self) -> list[str]:
        with self._lock:
            return [f"{name}: {detail}" for name, (ok, detail, _) in self.probes.items() if not ok]

    def probes_green_for(self, seconds: float) -> bool:
        now = self.clock()
        with self._lock:
            return all(ok and now - since >= seconds for ok, _, since in self.probes.values())

    def clean_for(self, seconds: float) -> bool:
        """No bad request for `seconds`, requests flowing, every probe green."""
        now = self.clock()
        if self.last_bad_ts is not None and now - self.last_bad_ts < seconds:
            return False
        return self.stats(seconds).total > 0 and self.probes_green_for(seconds)

    def show(self, force: bool = False) -> None:
        now = self.clock()
        if self.progress is None or (not force and now - self.last_progress < PROGRESS_EVERY_S):
            return
        self.last_progress = now
        recent = self.stats(PROGRESS_EVERY_S)
        self.progress(
            f"[{now - self.started:6.1f}s] {self.phase:<9} {recent.total / PROGRESS_EVERY_S:5.0f} req/s  "
            f"errors {recent.error_rate:6.1%}  failed {self.failed}/{self.total}  alarms {len(self.alarms)}"
        )
