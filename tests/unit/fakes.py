"""Fakes behind the seams, for deciding-logic tests: a clock that never sleeps, a small
model of a host (which release is live, whether the schema fits it, outages), and an
environment, deployer, process manager, request stream and HTTP transport that all read
that model. Nothing here touches Docker, the network or real time."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness.deploy import Release, Releases
from harness.environment import Access, CommandResult
from harness.errors import HarnessError
from harness.results.deploylog import DeployStep
from harness.results.records import Record

T0 = 1_800_000_000.0
REQUESTS_PER_S = 50


class FakeClock:
    """Starts at T0; `sleep` moves time on and runs the hooks, never waits."""

    def __init__(self, start: float = T0) -> None:
        self.t = start
        self.hooks: list[Callable[[float], None]] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        for hook in self.hooks:
            hook(self.t)


@dataclass
class Host:
    """What is true on the fake host: releases by directory, `current`, and what breaks requests."""

    releases: dict[str, str] = field(default_factory=lambda: {"r1": "v1"})
    current: str = "r1"
    unbootable: set[str] = field(default_factory=set)  # release names whose app server cannot start
    unhealthy: set[str] = field(default_factory=set)  # release names whose /health fails while requests pass
    schema_broken: bool = False  # a destructive migration committed: the old release fails
    outages: list[tuple[float, float]] = field(default_factory=list)  # seconds after t0 when nothing answers
    bad: set[str] = field(default_factory=set)
    t0: float | None = None  # when the fault's deploy started
    paused: bool = False  # the database's processes are stopped: nothing that needs it answers

    def serving(self, ts: float) -> bool:
        if self.paused:
            return False
        if self.t0 is not None and any(a <= ts - self.t0 < b for a, b in self.outages):
            return False
        name = self.releases[self.current]
        if name in self.unbootable:
            return False
        return not (self.schema_broken and name == "v1")


class FakeRecords:
    """The request stream: REQUESTS_PER_S requests a second, each failing while the host
    does not serve. Requests are made as the clock moves, so each sees the host as it was."""

    def __init__(self, host: Host, clock: FakeClock, path: Path | None = None) -> None:
        self.host = host
        self.next_ts = clock.now()
        self.pending: list[Record] = []
        self.emitted: list[Record] = []
        self.path = path  # where the recorder would write them (requests.jsonl), if anywhere
        clock.hooks.insert(0, self.make)

    def make(self, now: float) -> None:
        # A request is recorded once it completed, 10 ms after it started.
        while self.next_ts + 0.01 <= now:
            ok = self.host.serving(self.next_ts)
            # Like shop's X-Release header: the directory of the release that answered.
            header = self.host.current if ok else ""
            record = Record(self.next_ts, 200 if ok else 502, 10.0, not ok, "GET /orders", "" if ok else "502",
                            header)
            self.pending.append(record)
            self.emitted.append(record)
            if self.path is not None:
                with self.path.open("a") as out:
                    out.write(json.dumps(list(record)) + "\n")
            self.next_ts += 1 / REQUESTS_PER_S

    def read_new(self) -> list[Record]:
        found, self.pending = self.pending, []
        return found


def transport(host: Host, clock: FakeClock) -> httpx.MockTransport:
    """Health probes answered from the host model."""

    def handler(request: httpx.Request) -> httpx.Response:
        if host.serving(clock.now()) and host.releases[host.current] not in host.unhealthy:
            # Like shop: /version names the release directory, and so does every answer's header.
            body = {"release": host.current} if request.url.path == "/version" else {"ok": True}
            return httpx.Response(200, json=body, headers={"X-Release": host.current})
        return httpx.Response(502, text="bad gateway")

    return httpx.MockTransport(handler)


class FakeEnvironment:
    def __init__(self, host: Host) -> None:
        self.host = host
        self.files: dict[str, str] = {}
        self.commands: list[tuple[str, ...]] = []

    run_id = "fake-run"
    url = "http://127.0.0.1:8080"
    access: Access | None = None

    def exec(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> CommandResult:
        self.commands.append(tuple(argv))
        return CommandResult(tuple(argv), 0, "", "")

    def read_file(self, path: str) -> str:
        return self.files.get(path, "")

    def write_file(self, path: str, text: str) -> None:
        self.files[path] = text

    def remove_file(self, path: str) -> None:
        self.files.pop(path, None)

    def sql(self, database: str, query: str) -> list[list[str]]:
        """The jobs query (shop's `queue.jobs_sql`): 10 enqueued, 10 done, none twice; no rows otherwise."""
        return [["10", "10", "0"]] if "FILTER (WHERE status = 'done')" in query else []

    def pause_database(self, paused: bool) -> None:
        self.commands.append(("pause-database", str(paused)))
        self.host.paused = paused

    def hygiene(self) -> list[str]:
        return []

    @property
    def hygiene_checks(self) -> tuple[str, ...]:
        return ("no stopped (SIGSTOP) process",)


@dataclass
class Step:
    """Something a fake deploy does `at` seconds after it started."""

    at: float
    act: Callable[[Host], None]
    logs: str | None = None  # the deploy tool's step name, when its log records one


class FakeDeploy:
    """A deploy that carries out its steps as fake time passes, ends with `exit_status` at
    `ends_at`, and can be interrupted."""

    def __init__(self, host: Host, clock: FakeClock, steps: list[Step], ends_at: float, exit_status: int,
                 crash: str | None = None) -> None:
        self.host = host
        self.clock = clock
        self.started = clock.now()
        host.t0 = self.started
        self.steps = list(steps)
        self.ends_at = ends_at
        self.exit_status = exit_status
        self.crash = crash
        self.argv = ("deploy", "deploy")
        self.result: CommandResult | None = None
        self.log: list[DeployStep] = []
        clock.hooks.append(lambda now: self._act())  # the deploy runs whether or not anyone polls it

    def _act(self) -> None:
        elapsed = self.clock.now() - self.started
        while self.steps and self.steps[0].at <= elapsed:
            step = self.steps.pop(0)
            step.act(self.host)
            if step.logs:
                self.log.append(DeployStep(self.clock.now(), "deploy", step.logs, "bad", "r2", True, 0.01, ""))

    def _advance(self) -> None:
        self._act()
        if self.result is None and self.clock.now() - self.started >= self.ends_at:
            if self.crash:
                raise HarnessError(self.crash)
            self.result = CommandResult(self.argv, self.exit_status, "", "" if self.exit_status == 0 else "failed")
            if self.exit_status:
                self.log.append(DeployStep(self.clock.now(), "deploy", "gate", "bad", "r2", False, 1.0, "502"))

    def poll(self) -> CommandResult | None:
        if self.result is None:
            self._advance()
        return self.result

    def stop(self) -> str:
        if self.poll() is not None:
            return "the deploy had already ended"
        self.clock.sleep(0.05)
        self.steps.clear()
        self.result = CommandResult(self.argv, 143, "", "interrupted by SIGTERM")
        return "sent SIGTERM to the running deploy; it exited 143"


class FakeDeployer:
    """Deploys follow `plan`; rollback swaps back to the previous release, db rollback mends the schema."""

    name = "fake"
    has_gate = True

    def __init__(self, host: Host, clock: FakeClock, plan: Callable[[str, bool], FakeDeploy],
                 rollback_s: float = 0.3, rollback_fails: bool = False) -> None:
        self.host = host
        self.clock = clock
        self.plan = plan
        self.rollback_s = rollback_s
        self.rollback_fails = rollback_fails
        self.calls: list[str] = []
        self.deploys: list[FakeDeploy] = []

    def start_deploy(self, release: str, *, gate: bool, killed_after: str | None = None) -> FakeDeploy:
        self.calls.append(f"deploy {release}")
        self.deploys.append(self.plan(release, gate))
        return self.deploys[-1]

    def rollback(self, *, db: bool = False) -> CommandResult:
        self.calls.append("rollback" + (" --db" if db else ""))
        self.clock.sleep(self.rollback_s)
        if self.rollback_fails:
            return CommandResult(("deploy", "rollback"), 2, "", "deploy: deploy is locked by deploy (pid 7)")
        ordered = sorted(self.host.releases)
        previous = [r for r in ordered if r < self.host.current and r not in self.host.bad]
        self.host.bad.add(self.host.current)
        self.host.current = previous[-1]
        if db:
            self.host.schema_broken = False
        return CommandResult(("deploy", "rollback", *(["--db"] if db else [])), 0, "", "")

    def db_rollback(self) -> CommandResult:
        self.calls.append("rollback --db-only")
        self.clock.sleep(0.2)
        self.host.schema_broken = False
        return CommandResult(("deploy", "rollback", "--db-only"), 0, "", "")

    def releases(self) -> Releases:
        return Releases(self.host.current, tuple(Release(d, n, d == self.host.current, d in self.host.bad)
                                                 for d, n in sorted(self.host.releases.items())))

    def current(self) -> str | None:
        return self.host.current

    def steps(self) -> list[DeployStep]:
        return [step for deploy in self.deploys for step in deploy.log]

    def command_line(self, action: str) -> str:
        return {"db rollback": "rollback --db-only"}.get(action, action)


def go_live(release_dir: str, name: str) -> Callable[[Host], None]:
    def act(host: Host) -> None:
        host.releases[release_dir] = name
        host.current = release_dir

    return act


def break_schema(host: Host) -> None:
    host.schema_broken = True


def mend_schema(host: Host) -> None:
    host.schema_broken = False


class FakeProcesses:
    name = "fake"
    states_visible = True

    def states(self) -> dict[str, str]:
        return {"web": "RUNNING", "worker": "RUNNING"}

    def start(self, program: str) -> CommandResult:
        return CommandResult(("start", program), 0, "", "")

    def reload(self, program: str) -> CommandResult:
        return CommandResult(("reload", program), 0, "", "")

    def stop(self, program: str) -> CommandResult:
        return CommandResult(("stop", program), 0, "", "")

    def signal(self, program: str, signal: str) -> CommandResult:
        self.signals = [*getattr(self, "signals", []), (program, signal)]
        return CommandResult(("signal", signal, program), 0, "", "")

    def main_pid(self, program: str) -> int | None:
        return 100 + len(getattr(self, "signals", []))

    def restart_command(self, programs: Sequence[str]) -> str:
        return "restart " + " ".join(programs)

    def restart(self, programs: Sequence[str]) -> CommandResult:
        self.restarted = list(programs)
        return CommandResult((self.restart_command(programs),), 0, "", "")

    def running(self, state: str) -> bool:
        return state == "RUNNING"

    def starting(self, state: str) -> bool:
        return state == "STARTING"

    def gave_up(self, state: str) -> bool:
        return state in ("BACKOFF", "FATAL")

    def gave_up_for_good(self, state: str) -> bool:
        return state == "FATAL"

    def refused(self, detail: str) -> str | None:
        return "reset the fake" if "refused" in detail else None
