"""The `deploy` kind: a release deployed through the deployer seam, watched, not waited on.

The rehearsal may roll back while the deploy still runs, as an operator would. A
`[fault.blocker]` opens a long transaction just before the deploy (a report query, a
session idle in transaction), so a migration's DDL queues behind it. `killed_after`
kills the deploy with SIGKILL after one of its steps (an OOM kill, a lost CI runner).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from harness.config.faultspec import FaultTraits
from harness.config.tables import NAME, Table
from harness.config.target import Target
from harness.environment import Environment
from harness.errors import HarnessError
from harness.rehearsal.faults.base import Context, FaultFailed, Injection, OneIncident
from harness.rehearsal.migrations import with_credentials
from harness.results.timeline import Event

# How long teardown waits for a deploy that is still running before interrupting it.
DEPLOY_END_WAIT_S = 120.0
# How long a blocker may take to hold its locks before the fault counts as failed.
BLOCKER_START_S = 10.0
# The blocker's session is named, so it is found and ended by name, never by its query.
BLOCKER_NAME = "gameday-blocker"
BLOCKER_RUNNING_SQL = (f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{BLOCKER_NAME}' "
                       "AND query LIKE 'SELECT pg_sleep(%' AND state = 'active'")
BLOCKER_END_SQL = f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{BLOCKER_NAME}'"


@dataclass(frozen=True)
class Blocker:
    """A long transaction started just before a deploy fault, as a report query or a
    session left idle in transaction would be: it runs `sql` (which takes its locks, such
    as `SELECT count(*) FROM orders`) and stays open `hold_s` seconds. A migration's DDL
    then waits behind it, and every query on the table queues behind the DDL."""

    sql: str
    hold_s: float


@dataclass(frozen=True)
class DeployFault:
    """`kind = "deploy"`: deploy `release` (with the deploy tool's gate unless `gate` is
    false), optionally behind a `blocker`, optionally killed after one of its steps."""

    release: str
    gate: bool = True
    blocker: Blocker | None = None
    killed_after: str | None = None
    kind: str = "deploy"

    @property
    def traits(self) -> FaultTraits:
        return FaultTraits(deploys=True, needs_shell=None if self.blocker is None else
                           ("fault.blocker", "the blocker's transaction runs in psql there"))

    def explain(self, events: Sequence[Mapping[str, Any]], impact_seen: bool) -> str | None:
        return None  # the deploy's own story (its steps, what went live) explains it

    def advise(self, objective: str) -> str | None:
        return None  # the deploy's own story has its advice


def release_of(t: Table, target: Target, required: bool = True) -> str | None:
    """`release`, one of the target's releases."""
    release = t.string("release", required=required, pattern=NAME)
    if release is not None and release not in target.releases:
        raise t.error("release", f"{release!r} is not a release of {target.name} ({', '.join(target.releases)})")
    return release


def parse(t: Table, target: Target) -> DeployFault:
    release = release_of(t, target)
    assert release is not None
    blocker = t.optional_table("blocker")
    killable = target.deploy.killable_steps
    if t.has("killed_after") and not killable:
        raise t.error("killed_after", f"needs the built-in deploy tool, whose steps it names; {target.name} "
                      "deploys with its own commands")
    killed_after = t.choice("killed_after", killable, None)
    if killed_after == "build" and not target.build.commands:
        raise t.error("killed_after", f"{target.name} has no build.commands, so its deploys log no build step")
    return DeployFault(release, gate=t.boolean("gate", True),
                       blocker=None if blocker is None else _blocker(blocker), killed_after=killed_after)


def _blocker(t: Table) -> Blocker:
    sql = str(t.string("sql")).strip().rstrip(";")
    if not sql or ";" in sql:
        raise t.error("sql", "must be one SQL statement, such as SELECT count(*) FROM orders")
    blocker = Blocker(sql, float(t.number("hold_s", 10.0, positive=True, maximum=600) or 10.0))
    t.finish()
    return blocker


@contextmanager
def injected(context: Context, fault: DeployFault) -> Iterator[Injection]:
    if fault.blocker is None:
        yield from deploying(context, fault)
        return
    database = context.scenario.target.database
    start_blocker(context, fault.blocker, database)
    try:
        yield from deploying(context, fault)
    finally:
        end_blocker(context.environment, database)


def start_blocker(context: Context, blocker: Blocker, database: str) -> None:
    """Open the blocker's transaction on the web host, with the app's own credentials,
    and return once it holds its locks (it sleeps inside the transaction). It ends by
    itself after `hold_s`. Raises `FaultFailed` when it does not start."""
    environment, clock = context.environment, context.clock
    session = (f"env PGAPPNAME={BLOCKER_NAME} psql -X -q -v ON_ERROR_STOP=1 --dbname={shlex.quote(database)} "
               "-c BEGIN "
               f"-c {shlex.quote(blocker.sql)} -c {shlex.quote(f'SELECT pg_sleep({blocker.hold_s:g})')} -c COMMIT")
    result = environment.exec(["sh", "-c", with_credentials(
        environment, f"setsid {session} >/dev/null 2>&1 </dev/null &")])
    if not result.ok:
        raise FaultFailed(f"the blocker's transaction could not start: {result.last_line()}")
    deadline = clock.now() + BLOCKER_START_S
    while True:
        try:
            rows = environment.sql(database, BLOCKER_RUNNING_SQL)
        except HarnessError as exc:
            raise FaultFailed(f"the blocker's transaction could not be checked: {exc}") from exc
        if rows and rows[0] and rows[0][0] not in ("", "0"):
            break
        if clock.now() >= deadline:
            raise FaultFailed(f"the blocker's transaction did not start within {BLOCKER_START_S:g}s: "
                              f"is `{blocker.sql}` valid SQL for {database}?")
        clock.sleep(0.1)
    context.timeline.record(Event.BLOCKER_STARTED, sql=blocker.sql, hold_s=blocker.hold_s)


def end_blocker(environment: Environment, database: str) -> None:
    """End the blocker's session if it still holds its locks (the fault is over); never raises."""
    try:
        environment.sql(database, BLOCKER_END_SQL)
    except HarnessError:
        pass  # the replica is going; its removal ends the session too


def deploying(context: Context, fault: DeployFault) -> Iterator[Injection]:
    """Start the deploy and yield it in progress; on the way out, let it end (interrupt it
    only if it will not), since nothing else may act on a host half-way through a deploy."""
    deployer, timeline, clock = context.deployer, context.timeline, context.clock
    started = clock.now()
    running = deployer.start_deploy(fault.release, gate=fault.gate, killed_after=fault.killed_after)
    # t0 is the recorded time (rounded as the timeline keeps it), so its own event is in the story.
    t0 = float(timeline.record(Event.FAULT_INJECTED, ts=started, kind=fault.kind, command=" ".join(running.argv),
                               release=fault.release, gate=fault.gate and deployer.has_gate)["ts"])
    injection = Injection(fault, t0, timeline, deploy=running, gate=fault.gate)
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
        deadline = clock.now() + DEPLOY_END_WAIT_S
        try:
            while injection.running() and clock.now() < deadline:
                clock.sleep(0.1)
            injection.stop()
        except FaultFailed:
            pass  # already recorded; the rehearsal has raised it


class Deploy(OneIncident):
    name = "deploy"
    spec = DeployFault

    def parse(self, table: Table, target: Target) -> DeployFault:
        return parse(table, target)

    def injected(self, context: Context, fault: DeployFault) -> AbstractContextManager[Injection]:
        return injected(context, fault)
