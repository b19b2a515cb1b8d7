"""The watch: what a team's monitoring sees while the rehearsal runs. It reads the request
records as they grow, runs the detectors, logs alarms and probe changes to the timeline,
answers "has service recovered?" with the one rule `measure` also uses, and shows
progress."""

from __future__ import annotations

import json
import re
import shlex
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from harness.config.scenario import LogDetector, Scenario
from harness.environment import Environment
from harness.errors import LoadLost, RecordingFailed
from harness.rehearsal.clock import Clock
from harness.rehearsal.detectors import Alarm, Check, ErrorRate, Poller
from harness.rehearsal.load import check_host
from harness.results.records import Record
from harness.results.recovery import recovered_at, steady_state_limit
from harness.results.timeline import Event, Timeline

TICK_S = 0.05
LOAD_CHECK_S = 0.25  # how often the load generator is looked at
# A detector whose check keeps failing to run (not red: unable to look) this long ends the
# run as an error: what it watches can no longer be judged.
INSTRUMENT_LOST_S = 10.0
PROGRESS_EVERY_S = 2.0
RECENT_S = 30.0
# A request is recorded when it completes: a window closer to now than the latency limit
# plus this may still miss a slow request that started in it.
SETTLE_S = 0.1


class RecordSource(Protocol):
    def read_new(self) -> list[Record]: ...


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
        # An answer came: whatever its body, this is the service speaking, never the probe failing.
        try:
            body = resp.json()
        except ValueError:
            body = None
        failed = body.get("failed") if isinstance(body, dict) else None
        named = ", ".join(str(f) for f in failed) if isinstance(failed, list) and failed else ""
        return Check(False, f"{resp.status_code}" + (f" failed {named}" if named else ""))

    return check


def queue_lag_check(environment: Environment, database: str, sql: str, max_age_s: float) -> Callable[[], Check]:
    def check() -> Check:
        rows = environment.sql(database, sql)
        value = rows[0][0] if rows and rows[0] and rows[0][0] != "" else None
        if value is None:
            return Check(True, "no pending job")
        age = float(value)
        return Check(age <= max_age_s, f"oldest pending job {age:.1f}s old")

    return check


class LogCount:
    """A log detector's check: reads the lines the web host appended to one of the
    target's JSON-lines logs since the last read (`tail -n +LINE`; a log that shrank was
    rotated, and is read from its start), and counts the matching ones read in the last
    `window_s` seconds, by the time they were read, as a log shipper would see them. Red
    at `count` or more."""

    def __init__(self, environment: Environment, config: LogDetector, clock: Callable[[], float]) -> None:
        self.environment = environment
        self.config = config
        self.clock = clock
        self.lines: int | None = None  # complete lines read; None: start at the end of the log as it is now
        self.seen: deque[float] = deque()
        self.pattern = re.compile(config.pattern) if config.pattern is not None else None

    def matches(self, line: str) -> bool:
        if self.pattern is not None:
            return self.pattern.search(line) is not None
        try:
            status = json.loads(line).get("status")
            return self.config.status_min is not None and int(status) >= self.config.status_min
        except (ValueError, TypeError, AttributeError):
            return False

    def check(self) -> Check:
        path = shlex.quote(self.config.path)
        start = 0 if self.lines is None else self.lines
        # One exec: the log's length in lines, then what follows the lines already read.
        out = self.environment.exec(["sh", "-c", f"(wc -l < {path} || echo 0; tail -n +{start + 1} {path}) "
                                     "2>/dev/null"]).stdout
        counted, _, read = out.partition("\n")
        total = int(counted.strip() or 0)
        if self.lines is None or total < start:
            # The first look starts at the end; a log that shrank was rotated: from its start.
            self.lines = total if self.lines is None else 0
            return Check(len(self.seen) < self.config.count, self.describe())
        # A last line without its newline is still being written: it is read again next time.
        lines = read.split("\n")[:-1]
        self.lines += len(lines)
        now = self.clock()
        self.seen.extend(now for line in lines if self.matches(line))
        while self.seen and self.seen[0] < now - self.config.window_s:
            self.seen.popleft()
        return Check(len(self.seen) < self.config.count, self.describe())

    def describe(self) -> str:
        what = f"status >= {self.config.status_min}" if self.pattern is None else f"/{self.config.pattern}/"
        return f"{len(self.seen)} lines of the {self.config.log} log matched {what} in {self.config.window_s:g}s"


class Watch:
    """The request stream and the probes, seen through one clock.

    `threaded=False` steps the probes inline from `poll` instead of on their own threads:
    unit tests use it with a fake clock and an httpx `transport`.
    """

    def __init__(
        self,
        scenario: Scenario,
        environment: Environment,
        timeline: Timeline,
        records: RecordSource,
        clock: Clock,
        progress: Callable[[str], None] | None = None,
        allow_remote: bool = False,
        transport: httpx.BaseTransport | None = None,
        threaded: bool = True,
        load_lost: Callable[[], tuple[float, str] | None] | None = None,
    ) -> None:
        self.scenario = scenario
        # The load generator, watched like any other part of the run (`harness.rehearsal.load`).
        self.load_lost = load_lost
        self._next_load_check = 0.0
        self.lost = False  # a loss was said: the run is ending
        self.timeline = timeline
        self.tail = records
        self.progress = progress
        self.clock = clock
        self.threaded = threaded
        self.started = clock.now()
        self.phase = "starting"
        self.alarms: list[Alarm] = []
        self.probes: dict[str, bool] = {}
        self.probe_changes: list[tuple[float, bool]] = []
        self.requests: list[tuple[float, bool]] = []
        self.recent: deque[tuple[float, bool]] = deque()
        self.total = 0
        self.failed = 0
        self.t0: float | None = None
        self.last_progress = 0.0
        self._lock = threading.Lock()
        detectors = scenario.detectors
        self.latency_limit_ms = scenario.load.latency_limit_s * 1000
        self.error_rate = (
            ErrorRate(detectors.error_rate, scenario.load.latency_limit_s) if detectors.error_rate else None
        )
        self.pollers: list[Poller] = []
        self.clients: list[httpx.Client] = []
        # The health poller, and the same probe as a cheap uptime monitor polls it.
        for name, probe in (("health", detectors.health), ("uptime", detectors.uptime)):
            if probe is None:
                continue
            http = httpx.Client(base_url=check_host(environment.url, allow_remote), timeout=probe.timeout_s,
                                transport=transport)
            self.clients.append(http)
            changed = self._probe_changed if name == "health" else self._alert_changed
            self.pollers.append(Poller(name, health_check(http, scenario.target.run.health_path),
                                       probe.interval_s, probe.failures, self._alarm, changed, clock.now,
                                       self._broken))
        if detectors.log is not None:
            log = detectors.log
            self.pollers.append(Poller("log", LogCount(environment, log, clock.now).check, log.interval_s, 1,
                                       self._alarm, self._alert_changed, clock.now, self._broken))
        if detectors.queue_lag is not None and scenario.target.queue is not None:
            check = queue_lag_check(environment, scenario.target.database, scenario.target.queue.lag_sql,
                                    detectors.queue_lag.max_age_s)
            self.pollers.append(Poller("queue_lag", check, detectors.queue_lag.interval_s, 1,
                                       self._alarm, self._probe_changed, clock.now, self._broken))
        self._next_step = {poller.name: 0.0 for poller in self.pollers}
        self._due: list[tuple[float, Callable[[], None]]] = []  # `schedule`d actions, soonest first

    # --- detector callbacks (may run on poller threads) ---------------------------

    def _alarm(self, alarm: Alarm) -> None:
        with self._lock:
            self.alarms.append(alarm)
        self.timeline.record(Event.ALARM_RAISED, ts=alarm.ts, detector=alarm.detector, detail=alarm.detail,
                             phase=self.phase)

    def _alert_changed(self, name: str, ok: bool, detail: str) -> None:
        # A log count, or an uptime monitor polling once a minute, only alerts: the
        # recovery rule waits for the health probe, not for them.
        self.timeline.record(Event.PROBE_CHANGED, detector=name, ok=ok, detail=detail, probe=False)

    def _probe_changed(self, name: str, ok: bool, detail: str) -> None:
        entry = self.timeline.record(Event.PROBE_CHANGED, detector=name, ok=ok, detail=detail)
        with self._lock:
            self.probes[name] = ok
            self.probe_changes.append((float(entry["ts"]), all(self.probes.values())))

    def _broken(self, name: str, detail: str) -> None:
        self.timeline.record(Event.INSTRUMENT_FAILED, detector=name, detail=detail)

    # --- life ---------------------------------------------------------------------

    def start(self) -> Watch:
        if self.threaded:
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

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.stop()
        if exc_type is None:
            # A run that ended normally: one last look, so a loss in its last moments is said.
            self._next_load_check = 0.0
            self.check_load()

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self.timeline.record(Event.PHASE_STARTED, phase=phase)
        self.show(force=True)

    def set_t0(self, t0: float) -> None:
        self.t0 = t0

    # --- the stream -----------------------------------------------------------------

    def schedule(self, at: float, action: Callable[[], None]) -> None:
        """Run `action` from the watch's own loop (the rehearsal's thread, while it waits)
        once the clock reaches `at` (epoch seconds): a fault's timed step, on the one clock."""
        self._due.append((at, action))
        self._due.sort(key=lambda due: due[0])

    def poll(self) -> None:
        while self._due and self._due[0][0] <= self.clock.now():
            self._due.pop(0)[1]()
        for record in self.tail.read_new():
            end = record.ts + record.latency_ms / 1000
            bad = record.failed or record.latency_ms > self.latency_limit_ms
            self.total += 1
            self.failed += record.failed
            self.requests.append((record.ts, bad))
            self.recent.append((end, bad))
            if self.error_rate is not None:
                alarm = self.error_rate.feed(record)
                if alarm is not None:
                    self._alarm(alarm)
        now = self.clock.now()
        if not self.threaded:
            for poller in self.pollers:
                if now >= self._next_step[poller.name]:
                    poller.step()
                    self._next_step[poller.name] = now + poller.interval_s
        while self.recent and self.recent[0][0] < now - RECENT_S:
            self.recent.popleft()
        self.show()

    def stats(self, seconds: float) -> Stats:
        since = self.clock.now() - seconds
        window = [bad for end, bad in self.recent if end >= since]
        return Stats(len(window), sum(window))

    def sleep(self, seconds: float) -> None:
        self.wait_for(lambda: False, seconds)

    def wait_for(self, done: Callable[[], bool], timeout: float) -> bool:
        """Poll until `done()` or `timeout` seconds; raises LoadLost once the load generator
        has stopped making load (within LOAD_CHECK_S of noticing)."""
        deadline = self.clock.now() + timeout
        while True:
            self.poll()
            self.check_load()
            if done():
                return True
            if self.clock.now() >= deadline:
                return False
            self.clock.sleep(TICK_S)

    def check_load(self) -> None:
        """Raise LoadLost once the load generator stopped making load, or a detector could
        not run for INSTRUMENT_LOST_S in a row (its instrument is gone: the Docker engine,
        the database's query): either way the run can no longer be judged."""
        now = self.clock.now()
        if now < self._next_load_check or self.lost:
            return
        self._next_load_check = now + LOAD_CHECK_S
        failed = self.timeline.write_error
        if failed is not None:
            self.lost = True
            raise RecordingFailed(str(self.timeline.path), f"cannot be written ({failed.strerror or failed}): the "
                                  "run stops, since what it sees can no longer be recorded")
        lost = None if self.load_lost is None else self.load_lost()
        if lost is not None:
            at, cause = lost
            self.timeline.record(Event.LOAD_LOST, at=at, cause=cause, phase=self.phase)
            self.lost = True  # said once
            raise LoadLost(f"the load generator stopped: {cause}")
        for poller in self.pollers:
            since = poller.broken_since
            if since is not None and now - since >= max(INSTRUMENT_LOST_S, 3 * poller.interval_s):
                cause = f"the {poller.name} detector could not run for {now - since:.1f}s: {poller.broken_detail}"
                self.timeline.record(Event.INSTRUMENT_LOST, at=since, detector=poller.name, cause=cause,
                                     phase=self.phase)
                self.lost = True
                raise LoadLost(cause)

    def alarms_since(self, ts: float) -> list[Alarm]:
        with self._lock:
            return [a for a in self.alarms if a.ts >= ts]

    def red_probes(self) -> list[str]:
        with self._lock:
            return [name for name, ok in self.probes.items() if not ok]

    def impact_since(self, ts: float) -> float | None:
        """Start time of the first bad request that started at or after `ts`."""
        return min((start for start, bad in self.requests if bad and start >= ts), default=None)

    def baseline_rate(self) -> float:
        """The share of bad requests before t0: what "back at baseline" means."""
        before = [bad for start, bad in self.requests if self.t0 is None or start < self.t0]
        return sum(before) / len(before) if before else 0.0

    def recovered_since(self, start: float, stable_s: float,
                        commands: Sequence[tuple[float, float]] = ()) -> float | None:
        """Start of the first `stable_s` window after `start` that meets the recovery rule
        (`harness.results.recovery.recovered_at`), among requests already recorded; with
        the recovery commands' (start, end), the first after the last failure one of them
        caused (`recovered_at`)."""
        with self._lock:
            changes = sorted(self.probe_changes)
        requests = sorted(self.requests)
        settle = self.latency_limit_ms / 1000 + SETTLE_S
        return recovered_at(requests, changes, start, self.clock.now() - settle, stable_s,
                                  self.baseline_rate(), commands, steady_state_limit(self.scenario))

    def first_alarm_since(self, ts: float) -> float | None:
        return min((a.ts for a in self.alarms_since(ts)), default=None)

    def show(self, force: bool = False) -> None:
        now = self.clock.now()
        if self.progress is None or (not force and now - self.last_progress < PROGRESS_EVERY_S):
            return
        self.last_progress = now
        recent = self.stats(PROGRESS_EVERY_S)
        self.progress(
            f"[{now - self.started:6.1f}s] {self.phase:<9} {recent.total / PROGRESS_EVERY_S:5.0f} req/s  "
            f"errors {recent.error_rate:6.1%}  failed {self.failed}/{self.total}  alarms {len(self.alarms)}"
        )
