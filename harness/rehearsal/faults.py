"""Faults: a plan as data, then the effect behind a context manager that undoes what it can.

A deploy fault runs through the deployer seam and is watched, not waited on: the
rehearsal may roll back while it still runs, as an operator would.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from harness.config.scenario import Blocker, Fault
from harness.deploy import Deployer, RunningCommand
from harness.environment import CommandResult, Environment
from harness.errors import HarnessError
from harness.rehearsal.clock import Clock
from harness.rehearsal.migrations import with_credentials
from harness.results.timeline import Event, Timeline

# How far ahead an error window is scheduled, so the switch is in place before it opens.
SWITCH_LEAD_S = 0.5
# The last lines of a command's output the timeline keeps, for the report.
OUTPUT_LINES = 12
# How long teardown waits for a deploy that is still running before interrupting it.
DEPLOY_END_WAIT_S = 120.0


class FaultFailed(HarnessError):
    """The fault itself could not be carried out (its deploy could not run): the run is an error."""


@dataclass(frozen=True)
class FaultPlan:
    kind: str
    release: str | None = None
    gate: bool = True
    switch_path: str | None = None
    window: tuple[float, float] | None = None
    blocker: Blocker | None = None  # a long transaction started just before the deploy
    database: str | None = None  # where the blocker runs
    killed_after: str | None = None  # the built-in deploy tool's step after which it is killed

    def describe(self) -> str:
        if self.kind == "deploy":
            return (f"deploy {self.release}" + ("" if self.gate else " --no-gate")
                    + ("" if self.killed_after is None else f", killed after its {self.killed_after} step"))
        assert self.window is not None
        return f"errors for {self.window[1] - self.window[0]:g}s"


def plan(fault: Fault, error_switch: str | None, now: float, database: str | None = None) -> FaultPlan:
    if fault.kind == "deploy":
        assert fault.release is not None
        return FaultPlan("deploy", release=fault.release, gate=fault.gate, blocker=fault.blocker, database=database,
                         killed_after=fault.killed_after)
    assert fault.duration_s is not None and error_switch is not None
    start = now + SWITCH_LEAD_S
    return FaultPlan("errors", switch_path=error_switch, window=(start, start + fault.duration_s))


@dataclass
class Injection:
    """A fault in progress: t0, and for a deploy the running command and its outcome."""

    plan: FaultPlan
    t0: float
    timeline: Timeline
    deploy: RunningCommand | None = None
    result: CommandResult | None = None
    interrupted: str | None = None
    _reported: bool = field(default=False, repr=False)

    def poll(self) -> CommandResult | None:
        """The deploy's result once it ended; raises `FaultFailed` when it could not run."""
        if self.deploy is None or self.result is not None:
            return self.result
        try:
            result = self.deploy.poll()
        except HarnessError as exc:
            if not self._reported:
                self._reported = True
                self.timeline.record(Event.DEPLOY_FAILED_TO_RUN, detail=str(exc)[:300])
            raise FaultFailed(f"the fault's deploy could not run: {exc}") from exc
        if result is not None:
            self.result = result
            self.timeline.record(Event.DEPLOY_FINISHED, exit_status=result.exit_status,
                                 detail=result.last_line()[-300:], output=result.tail(OUTPUT_LINES))
        return result

    def running(self) -> bool:
        return self.deploy is not None and self.poll() is None

    def failed(self) -> bool:
        """The deploy command ended and said it failed (for instance its gate aborted it)."""
        result = self.poll()
        return result is not None and not result.ok

    def stop(self) -> str | None:
        """Interrupt a deploy that is still running; what was done, or None if it had ended."""
        if not self.running():
            return None
        assert self.deploy is not None
        self.interrupted = self.deploy.stop()
        self.timeline.record(Event.DEPLOY_INTERRUPTED, detail=self.interrupted)
        self.poll()
        return self.interrupted


@contextmanager
def injected(
    environment: Environment, deployer: Deployer, fault: FaultPlan, timeline: Timeline, clock: Clock
) -> Iterator[Injection]:
    if fault.kind == "deploy":
        if fault.blocker is None:
            yield from _deploying(deployer, fault, timeline, clock)
            return
        start_blocker(environment, fault, timeline, clock)
        try:
            yield from _deploying(deployer, fault, timeline, clock)
        finally:
            end_blocker(environment, fault)
    else:
        yield from _switching(environment, fault, timeline)


# How long a blocker may take to hold its locks before the fault counts as failed.
BLOCKER_START_S = 10.0
# The blocker's session is named, so it is found and ended by name, never by its query.
BLOCKER_NAME = "gameday-blocker"
BLOCKER_RUNNING_SQL = (f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{BLOCKER_NAME}' "
                       "AND query LIKE 'SELECT pg_sleep(%' AND state = 'active'")
BLOCKER_END_SQL = f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{BLOCKER_NAME}'"


def start_blocker(environment: Environment, fault: FaultPlan, timeline: Timeline, clock: Clock) -> None:
    """Open the blocker's transaction on the web host, with the app's own credentials,
    and return once it holds its locks (it sleeps inside the transaction). It ends by
    itself after `hold_s`. Raises `FaultFailed` when it does not start."""
    blocker = fault.blocker
    assert blocker is not None and fault.database is not None
    session = (f"env PGAPPNAME={BLOCKER_NAME} psql -X -q -v ON_ERROR_STOP=1 --dbname={shlex.quote(fault.database)} "
               "-c BEGIN "
               f"-c {shlex.quote(blocker.sql)} -c {shlex.quote(f'SELECT pg_sleep({blocker.hold_s:g})')} -c COMMIT")
    result = environment.exec(["sh", "-c", with_credentials(
        environment, f"setsid {session} >/dev/null 2>&1 </dev/null &")])
    if not result.ok:
        raise FaultFailed(f"the blocker's transaction could not start: {result.last_line()}")
    deadline = clock.now() + BLOCKER_START_S
    while True:
        try:
            rows = environment.sql(fault.database, BLOCKER_RUNNING_SQL)
        except HarnessError as exc:
            raise FaultFailed(f"the blocker's transaction could not be checked: {exc}") from exc
        if rows and rows[0] and rows[0][0] not in ("", "0"):
            break
        if clock.now() >= deadline:
            raise FaultFailed(f"the blocker's transaction did not start within {BLOCKER_START_S:g}s: "
                              f"is `{blocker.sql}` valid SQL for {fault.database}?")
        clock.sleep(0.1)
    timeline.record(Event.BLOCKER_STARTED, sql=blocker.sql, hold_s=blocker.hold_s)


def end_blocker(environment: Environment, fault: FaultPlan) -> None:
    """End the blocker's session if it still holds its locks (the fault is over); never raises."""
    assert fault.database is not None
    try:
        environment.sql(fault.database, BLOCKER_END_SQL)
    except HarnessError:
        pass  # the replica is going; its removal ends the session too


def _deploying(deployer: Deployer, fault: FaultPlan, timeline: Timeline, clock: Clock) -> Iterator[Injection]:
    assert fault.release is not None
    t0 = clock.now()
    running = deployer.start_deploy(fault.release, gate=fault.gate, killed_after=fault.killed_after)
    timeline.record(Event.FAULT_INJECTED, ts=t0, kind="deploy", command=" ".join(running.argv),
                    release=fault.release, gate=fault.gate and deployer.has_gate)
    injection = Injection(fault, t0, timeline, deploy=running)
    try:
        yield injection
    except BaseException:
        # Interrupted or failed: stop the deploy now rather than wait for it.
        try:
            injection.stop()
        except FaultFailed:
            pass
        raise
    finally:
        # Nothing else may act on the host while a deploy is half-way: let it end, and
        # interrupt it only if it will not.
        deadline = clock.now() + DEPLOY_END_WAIT_S
        try:
            while injection.running() and clock.now() < deadline:
                clock.sleep(0.1)
            injection.stop()
        except FaultFailed:
            pass  # already recorded; the rehearsal has raised it


def _switching(environment: Environment, fault: FaultPlan, timeline: Timeline) -> Iterator[Injection]:
    assert fault.switch_path is not None and fault.window is not None
    start, until = fault.window
    environment.write_file(fault.switch_path, json.dumps({"from": start, "until": until}))
    timeline.record(Event.FAULT_INJECTED, ts=start, kind="errors", until=until)
    injection = Injection(fault, start, timeline)
    try:
        yield injection
    finally:
        try:
            environment.remove_file(fault.switch_path)
            timeline.record(Event.FAULT_REMOVED, kind="errors")
        except HarnessError as exc:
            timeline.record(Event.FAULT_NOT_REMOVED, kind="errors", detail=str(exc))
