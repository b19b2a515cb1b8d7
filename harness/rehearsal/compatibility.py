"""The compatibility matrix: every release of a plan against every schema state the plan
passed through, each cell a short burst of the target's own load.

A schema state is a dump of the target's database taken on the web host (`pg_dump`, with
the host's shared credentials) whenever a step changed the columns of its public tables.
For each state, restored with `pg_restore`, gameday points `current` at each release's
directory and reloads the app server and worker through the process manager, exactly as
a deploy's swap does, but without migrating, then notes the window of the burst. The
verdicts come later from the burst's records (`harness.results.rollout`). At the end the
database is restored to where the plan left it and the plan's live release swapped back.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import httpx

from harness.config.scenario import Scenario
from harness.config.target import Target
from harness.deploy import Deployer
from harness.environment import Environment, ProcessManager
from harness.errors import StagingError
from harness.rehearsal import contracts
from harness.rehearsal.clock import Clock
from harness.rehearsal.load import check_host
from harness.rehearsal.migrations import with_credentials
from harness.results.timeline import Event, Timeline

STATES_DIR = "/var/tmp/gameday-states"
COLUMNS_SQL = ("SELECT coalesce(string_agg(table_name || '.' || column_name, ', ' "
               "ORDER BY table_name, column_name), '') FROM information_schema.columns "
               "WHERE table_schema = 'public'")
SERVING_WAIT_S = 15.0
WORKER = "worker"


@dataclass(frozen=True)
class SavedState:
    """A schema state and the dump on the web host that brings it back."""

    index: int
    after: str
    columns: str
    dump: str


def columns(environment: Environment, target: Target) -> str:
    """The public tables' columns, `table.column, …` in name order: what a state is."""
    rows = environment.sql(target.database, COLUMNS_SQL)
    return rows[0][0] if rows and rows[0] else ""


def _run(environment: Environment, command: str, what: str) -> None:
    result = environment.exec(["sh", "-c", with_credentials(environment, command)])
    if not result.ok:
        raise StagingError(f"{what}: {result.last_line()}")


def save_state(environment: Environment, target: Target, index: int, after: str, timeline: Timeline,
               known: str | None = None, final: bool = False) -> SavedState:
    """Dump the target's database as state `index` (made by step `after`; `final`: the
    copy the matrix puts back at its end); raises `StagingError` when the dump fails."""
    found = known if known is not None else columns(environment, target)
    dump = f"{STATES_DIR}/state-{index}.dump"
    _run(environment, f"mkdir -p {STATES_DIR} && pg_dump --format=custom --file={dump} "
         f"--dbname={shlex.quote(target.database)}", f"saving schema state {index}")
    timeline.record(Event.SCHEMA_STATE_SAVED, index=index, after=after, columns=found, final=final)
    return SavedState(index, after, found, dump)


def restore_state(environment: Environment, target: Target, state: SavedState, timeline: Timeline) -> None:
    """Put the database back as `state` was, in one transaction."""
    _run(environment, f"pg_restore --clean --if-exists --single-transaction "
         f"--dbname={shlex.quote(target.database)} {state.dump}", f"restoring schema state {state.index}")
    timeline.record(Event.SCHEMA_STATE_RESTORED, index=state.index, after=state.after)


def switch(environment: Environment, processes: ProcessManager, target: Target, release_dir: str) -> None:
    """Point `current` at `release_dir` with an atomic rename and reload the app server
    (and restart the worker), as a deploy's swap does, without migrating."""
    access = environment.access
    deploy_to = access.deploy_to if access is not None else "/srv/app"
    link = f"{deploy_to}/current"
    script = (f"ln -sfn {shlex.quote(f'{deploy_to}/releases/{release_dir}')} {link}.gameday "
              f"&& mv -T {link}.gameday {link}")
    result = environment.exec(["sh", "-c", script])
    if not result.ok:
        raise StagingError(f"switching current to {release_dir}: {result.last_line()}")
    processes.reload("web")
    if target.run.worker is not None:
        processes.reload(WORKER)


def serving(http: httpx.Client, target: Target, names: set[str], deadline: float) -> bool:
    """Wait until the app answers from one of `names` (by its version path or release
    header); without either, until its health path answers at all."""
    while True:
        try:
            if target.run.version_path is not None:
                if contracts.named(http.get(target.run.version_path)) in names:
                    return True
            else:
                answer = http.get(target.run.health_path)
                header = target.run.release_header
                if (answer.headers.get(header) in names) if header else answer.status_code < 500:
                    return True
        except httpx.HTTPError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def measure_matrix(scenario: Scenario, environment: Environment, processes: ProcessManager, deployer: Deployer,
                   states: list[SavedState], timeline: Timeline, clock: Clock,
                   burst_load: Callable[[], AbstractContextManager[object]], allow_remote: bool = False) -> None:
    """Every release of the plan (the start release first) against every state, newest
    state first; records one `matrix_cell_measured` (with the burst's window) or
    `matrix_cell_skipped` per cell. `burst_load` runs the target's load for one state:
    it starts after each restore, so no user asks for a row the restore took away.
    Leaves the database and `current` as the plan left them."""
    plan = scenario.plan
    assert plan is not None
    target = scenario.target
    rows = [scenario.start_release, *(step.release for step in plan.steps)]
    listing = deployer.releases()
    # A release deployed more than once (rolled forward) counts by its newest directory.
    directories = {r.name: r.release_dir for r in listing.releases}
    live = listing.current
    final = save_state(environment, target, len(states), "end of plan", timeline, states[-1].columns, final=True)
    with httpx.Client(base_url=check_host(environment.url, allow_remote), timeout=2.0) as http:
        try:
            for state in reversed(states):
                restore_state(environment, target, state, timeline)
                with burst_load():
                    measure_state(scenario, environment, processes, http, rows, directories, state, timeline, clock)
        finally:
            restore_state(environment, target, final, timeline)
            if live is not None:
                switch(environment, processes, target, live)
                serving(http, target, {live}, time.monotonic() + SERVING_WAIT_S)


def measure_state(scenario: Scenario, environment: Environment, processes: ProcessManager, http: httpx.Client,
                  rows: list[str], directories: dict[str, str], state: SavedState, timeline: Timeline,
                  clock: Clock) -> None:
    """Each release against the database as it is now (`state`), one burst each."""
    assert scenario.plan is not None
    target = scenario.target
    for release in rows:
        directory = directories.get(release)
        if directory is None:
            timeline.record(Event.MATRIX_CELL_SKIPPED, release=release, state=state.index,
                            reason="its release directory is gone (the deploy tool kept fewer "
                                   "releases than the plan made)")
            continue
        switch(environment, processes, target, directory)
        answered = serving(http, target, {directory, release}, time.monotonic() + SERVING_WAIT_S)
        start = clock.now()
        clock.sleep(scenario.plan.burst_s)
        timeline.record(Event.MATRIX_CELL_MEASURED, release=release, release_dir=directory,
                        state=state.index, from_ts=start, until_ts=clock.now(), serving=answered)
