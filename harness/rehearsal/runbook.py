"""The runbook: one rehearsal, start to finish. It reads as a table of contents; the work
is in the stack's seams, load, faults, watch, phases and results."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from harness import __version__, redaction
from harness.config.scenario import Scenario
from harness.config.target import Target
from harness.deploy import Deployer
from harness.environment import Environment, ProcessManager, state
from harness.errors import HarnessError, InputError, RecordingFailed, StagingError
from harness.rehearsal import catalogue, compatibility, contracts, load, migrations, phases
from harness.rehearsal.clock import Clock, SystemClock
from harness.rehearsal.faults.base import Context, Injection
from harness.rehearsal.faults.kinds import kind_of
from harness.rehearsal.watch import RecordSource, Stats, Watch
from harness.reporting.report import write_report
from harness.results import junit
from harness.results.budget import Budget, history
from harness.results.budget import apply as apply_budget
from harness.results.deploylog import DeployStep
from harness.results.files import write_json
from harness.results.measure import Observed, measure
from harness.results.model import Lint, Outcome, Result
from harness.results.records import MATRIX_RECORDS, RecordTail, read_records
from harness.results.runid import new_run_id
from harness.results.timeline import Event, Timeline, read_jsonl

PROJECT = Path(__file__).resolve().parents[2]
FIRST_DEPLOY_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Stack:
    """The team's stack as the rehearsal sees it: how to get an environment for a run,
    and, given one, its deployer and process manager; how load is made and its records
    read; how the app is reached over HTTP. The CLI builds it; the rehearsal sees only the
    seams' protocols, so a unit test hands it fakes for every one.

    - `load`: runs the load for a plan (`load.running`: real Locust);
    - `records`: the request stream the watch reads, from the records file Locust writes;
    - `http`: the transport for probes and checks (None: the network, on loopback);
    - `threaded`: detectors poll in threads of their own (False: inline, for a fake clock).
    """

    provision: Callable[[str, str, Path], AbstractContextManager[Environment]]
    deployer: Callable[[Environment], Deployer]
    processes: Callable[[Environment], ProcessManager]
    describe: Callable[[], Mapping[str, str]] = dict
    load: load.LoadGenerator = load.running
    records: Callable[[Path], RecordSource] = RecordTail
    http: httpx.BaseTransport | None = None
    threaded: bool = True


@dataclass
class Run:
    """One rehearsal's identity, files and what it has seen so far."""

    scenario: Scenario
    run_id: str
    run_dir: Path
    timeline: Timeline
    started: float
    clock: Clock
    notes: phases.Notes = field(default_factory=phases.Notes)
    t0: float | None = None
    releases: dict[str, str | None] = field(default_factory=dict)
    deploy_log: list[DeployStep] = field(default_factory=list)
    jobs: dict[str, int] | None = None
    hygiene: dict[str, Any] | None = None
    at_end: Stats | None = None  # the requests of the last stable_s before the load stopped
    states: list[compatibility.SavedState] = field(default_factory=list)  # a plan's schema states
    app_log: list[dict[str, Any]] = field(default_factory=list)  # the app's own JSON log, read at the end
    lint: Lint | None = None  # the migrations the run applies, linted once the replica is up
    manifest: load.LoadManifest | None = None  # what the locustfile defines (user classes, shape)
    allow_remote: bool = False
    outcome: str | None = None
    reason: str | None = None

    @property
    def records(self) -> Path:
        return self.run_dir / "requests.jsonl"


def rehearse(
    scenario: Scenario,
    stack: Stack,
    reports: Path,
    *,
    operator: bool = False,
    budget: Budget | None = None,
    allow_remote: bool = False,
    say: Callable[[str], None] = print,
    progress: Callable[[str], None] | None = None,
    clock: Clock | None = None,
    program: str = "gameday",
    manifest: load.LoadManifest | None = None,
) -> tuple[Path, Result]:
    """Run `scenario` once; returns the run directory and its result, always written.

    `operator` (or `[recovery] mode = "operator"` in the scenario) lets a person detect
    and roll back while gameday times them. `manifest` is what its locustfile defines
    (`load.manifest`, checked before anything started), for the result.
    """
    clock = clock or SystemClock()
    redaction.keep_secret(scenario.target.secret_values())
    run_id, run_dir = claim_run_dir(reports, new_run_id(scenario.name, datetime.fromtimestamp(clock.now(), UTC)))
    run = Run(scenario, run_id, run_dir, Timeline(run_dir / "timeline.jsonl", clock.now), clock.now(), clock,
              allow_remote=allow_remote, manifest=manifest)
    try:
        write_json(run_dir / "run.json", {"run_id": run_id, "scenario": scenario.name,
                                          "scenario_path": str(scenario.path), "started": run.started})
    except OSError as exc:
        run.timeline.close()
        state.release(run_id)
        raise RecordingFailed(str(run_dir / "run.json"), f"cannot be written ({exc.strerror})") from None
    bad_input = False
    try:
        with environment_for(run, stack) as (environment, deployer):
            shape = None if run.manifest is None else run.manifest.shape
            with stack.load(load_plan(run, environment), shape) as locust, \
                    watching(run, stack, environment, progress, locust.lost) as watch:
                phases.baseline(watch, scenario)
                migrations.fingerprint(environment, scenario.target, run.timeline, "before")
                processes = stack.processes(environment)

                def responding(injection: Injection) -> None:
                    respond(watch, scenario, environment, deployer, injection, run.notes, run.releases["before"],
                            processes, operator=operator, say=say, operator_log=operator_log(run), program=program)

                context = Context(scenario, watch, environment, deployer, processes, clock, run.notes.actions,
                                  responding, lambda: fingerprint_after_db_rollback(run, environment))
                try:
                    kind_of(scenario.fault).rehearse(context)
                finally:
                    run.t0, run.states = context.t0, context.states
                run.at_end = watch.stats(scenario.phases.stable_s)
            run.jobs = phases.drain(environment, scenario, run.started, run.timeline, clock)
            states = run.states
            if states and scenario.plan is not None and scenario.plan.matrix:
                say(f"measuring the compatibility matrix: {len(scenario.plan.steps) + 1} releases "
                    f"x {len(states)} schema states")
                bursts = lambda: stack.load(matrix_load_plan(run, environment), None)  # noqa: E731 - one per state
                compatibility.measure_matrix(scenario, environment, stack.processes(environment), deployer, states,
                                             run.timeline, clock, bursts, allow_remote=allow_remote)
    except contracts.ContractBroken:
        bad_input = True  # one line and exit 2, as for any bad input: no run is left behind
        raise
    except phases.BaselineFailed as exc:
        run.outcome, run.reason = "aborted", str(exc)
    except KeyboardInterrupt as exc:
        run.outcome, run.reason = "aborted", "interrupted"
        run.timeline.record(Event.RUN_INTERRUPTED, signal=str(exc) or "SIGINT")
        raise
    except HarnessError as exc:
        run.outcome, run.reason = "error", str(exc)
    except Exception as exc:  # a bug in gameday: still a result, then the traceback
        run.outcome, run.reason = "error", f"gameday failed: {type(exc).__name__}: {exc}"
        raise
    finally:
        try:
            if bad_input:
                run.timeline.close()
                shutil.rmtree(run_dir, ignore_errors=True)
            else:
                result = finish(run, stack, budget)
        finally:
            state.release(run_id)
    return run_dir, result


def respond(
    watch: Watch,
    scenario: Scenario,
    environment: Environment,
    deployer: Deployer,
    injection: Injection,
    notes: phases.Notes,
    before: str | None,
    processes: ProcessManager,
    *,
    operator: bool,
    say: Callable[[str], None],
    operator_log: Callable[[], list[dict[str, Any]]],
    program: str = "gameday",
) -> None:
    """From the fault to verified recovery: gameday detects and recovers, or, in operator
    mode (`--operator` or `[recovery] mode = "operator"`), a person does while gameday
    times them."""
    if operator or scenario.recovery.mode == "operator":
        phases.operate(watch, scenario, environment, deployer, injection, notes, before, say, operator_log, program)
    else:
        phases.detect(watch, scenario, injection)
        phases.recover(watch, deployer, scenario, injection, notes, before, processes)
    phases.verify(watch, scenario, injection.t0)


def fingerprint_after_db_rollback(run: Run, environment: Environment) -> None:
    """Once a database rollback (or a redeploy of the start release, the other way back)
    has run and service was verified, the schema's fingerprint again: the clean-round-trip
    check compares it with the one before the fault."""
    done = [e for e in run.timeline.events if e["event"] == Event.ROLLBACK_FINISHED
            and (e.get("db") or e.get("action") == "redeploy") and e.get("exit_status", 0) == 0]
    if done:
        when = "after db rollback" if done[-1].get("db") else "after redeploy"
        migrations.fingerprint(environment, run.scenario.target, run.timeline, when, rollback_ts=done[-1]["ts"])


@contextmanager
def environment_for(run: Run, stack: Stack) -> Iterator[tuple[Environment, Deployer]]:
    """The environment for this run with its first release live; what only it knows (the
    deploy log, releases, hygiene) is read before it goes."""
    scenario = run.scenario
    with stack.provision(run.run_id, scenario.name, run.run_dir) as environment:
        deployer = stack.deployer(environment)
        bring_up(scenario.target, environment, deployer, stack.processes(environment), scenario.start_release,
                 run.clock, allow_remote=run.allow_remote, transport=stack.http)
        run.timeline.record(Event.REPLICA_STARTED, url=environment.url, release=scenario.start_release)
        run.releases["before"] = deployer.current()
        run.lint = migrations.lint(scenario, migrations.server_version(environment, scenario.target))
        try:
            yield environment, deployer
        finally:
            # A failure here must not stop the teardown.
            try:
                run.deploy_log = list(deployer.steps())
                run.releases["deployed"] = deployed_release(run.deploy_log, run.t0, run.notes)
                run.releases["after"] = deployer.current()
                live = release_name(scenario.target, run.deploy_log, run.releases["after"])
                database = migrations.leftovers(environment, scenario.target, live)
                processes = stack.processes(environment)
                run.hygiene = phases.hygiene(environment, processes, scenario, run.timeline, run.at_end,
                                             run.allow_remote, transport=stack.http, database=database,
                                             leftovers=kind_of(scenario.fault).leftovers(scenario, environment,
                                                                                         processes))
                run.app_log = app_log(scenario.target, environment)
            except HarnessError as exc:
                run.timeline.record(Event.REPLICA_UNREADABLE, detail=str(exc))
            run.timeline.record(Event.REPLICA_REMOVING)


def release_name(target: Target, steps: list[DeployStep], directory: str | None) -> str | None:
    """The name of the release in `directory` (what `current` points to): from the deploy
    log, else the directory itself when it is a release's name; None when unknown."""
    named = next((s.release for s in steps if s.release_dir == directory and s.release), None)
    return named or (directory if directory in target.releases else None)


def app_log(target: Target, environment: Environment) -> list[dict[str, Any]]:
    """The app's own JSON-lines log (`[logs] app`), one object a line; empty without one."""
    path = target.logs.get("app")
    if path is None:
        return []
    found = []
    for line in environment.read_file(path).splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            found.append(entry)
    return found


def bring_up(target: Target, environment: Environment, deployer: Deployer, processes: ProcessManager,
             release: str, clock: Clock, *, allow_remote: bool = False,
             transport: httpx.BaseTransport | None = None) -> None:
    """Deploy the first release and check the target's contracts against it (`gameday up`,
    and every rehearsal before its baseline); raises `ContractBroken` for either."""
    try:
        first_deploy(target, deployer, release, clock)
    except contracts.ContractBroken:
        # A deploy that went live and then failed its own checks: a broken contract names
        # the key to change, which says more than the deploy's last line.
        if deployer.current() is not None:
            contracts.check(target, environment, deployer, processes, release, clock=clock, allow_remote=allow_remote,
                            transport=transport)
        raise
    contracts.check(target, environment, deployer, processes, release, clock=clock, allow_remote=allow_remote,
                    transport=transport)


def first_deploy(target: Target, deployer: Deployer, release: str, clock: Clock) -> None:
    """Deploy the start release, gated, and wait for it.

    A start release that does not deploy (its build fails, it cannot boot) is bad input:
    `ContractBroken` names the target file, the release, the command and its last lines.
    """
    running = deployer.start_deploy(release, gate=True)
    deadline = clock.now() + FIRST_DEPLOY_TIMEOUT_S
    while (result := running.poll()) is None:
        if clock.now() >= deadline:
            raise StagingError(f"deploying the start release {release} took over {FIRST_DEPLOY_TIMEOUT_S:g}s",
                               command=running.argv, log_tail=[running.stop()])
        clock.sleep(0.1)
    if not result.ok:
        output = " | ".join(result.tail(3)) or f"exited {result.exit_status}"
        raise contracts.ContractBroken(str(target.path or target.name),
                                       contracts.key_for_failed_deploy(target, deployer.steps()),
                                       f"the start release {release} did not deploy: `{' '.join(result.argv)}` "
                                       f"exited {result.exit_status}: {output}")


def deployed_release(steps: list[DeployStep], t0: float | None, notes: phases.Notes) -> str | None:
    """The release directory the fault's deploy created: from its step log, else what went live."""
    if t0 is None:
        return None
    for step in steps:
        if step.ts >= t0 and step.action == "deploy" and step.release_dir:
            return step.release_dir
    return notes.live_release if notes.went_live else None


@contextmanager
def watching(run: Run, stack: Stack, environment: Environment, progress: Callable[[str], None] | None,
             load_lost: Callable[[], tuple[float, str] | None] | None = None) -> Iterator[Watch]:
    with Watch(run.scenario, environment, run.timeline, stack.records(run.records), run.clock, progress,
               allow_remote=run.allow_remote, transport=stack.http, threaded=stack.threaded,
               load_lost=load_lost) as watch:
        yield watch


def claim_run_dir(reports: Path, run_id: str) -> tuple[str, Path]:
    """A run id no other run on this machine has, and its directory in `reports`, both made
    atomically: a second run of the same scenario started in the same second, whatever its
    reports directory, gets `RUN_ID-2` (then -3…). The id is held in gameday's state
    directory until `release_run_id`."""

    def make_dir(claimed: str) -> bool:
        try:
            (reports / claimed).mkdir(parents=True)
        except FileExistsError:
            return False
        except OSError as exc:
            raise HarnessError(f"{reports}: cannot make the run's directory ({exc.strerror})") from None
        return True

    claimed = state.claim(run_id, state.REHEARSAL, also=make_dir)
    return claimed, reports / claimed


def load_plan(run: Run, environment: Environment) -> load.LoadPlan:
    # gameday stops Locust itself (and Locust dies with it): its own run time only bounds
    # an orphan, so no long run (operator mode, many rounds) outlasts it.
    return load.plan(run.scenario.load, environment.url, run.run_dir, load.ORPHAN_RUN_TIME_S, run.allow_remote,
                     run.scenario.target.run.release_header)


def matrix_load_plan(run: Run, environment: Environment) -> load.LoadPlan:
    """The matrix's own load for one schema state, recorded apart from the rehearsal's
    requests; from this machine only (workers elsewhere served the rehearsal's master)."""
    plan = run.scenario.plan
    assert plan is not None
    settings = dataclasses.replace(run.scenario.load, remote_workers=0, master_port=None,
                                   master_bind_host="127.0.0.1")
    return load.plan(settings, environment.url, run.run_dir, load.ORPHAN_RUN_TIME_S, run.allow_remote,
                     run.scenario.target.run.release_header, records=MATRIX_RECORDS)


def operator_log(run: Run) -> Callable[[], list[dict[str, Any]]]:
    path = run.run_dir / "operator.jsonl"
    return lambda: list(read_jsonl(path))


def environment_facts(run: Run, stack: Stack) -> dict[str, Any]:
    try:
        revision = subprocess.run(["git", "-C", str(PROJECT), "rev-parse", "--short", "HEAD"],
                                  capture_output=True, text=True, check=False).stdout.strip() or None
    except OSError:
        revision = None
    load_settings = run.scenario.load
    return {
        "gameday_version": __version__,
        "git_revision": revision,
        "images": dict(stack.describe()),
        "load": {"users": load_settings.users, "spawn_rate": load_settings.spawn_rate,
                 "locustfile": load_settings.locustfile.name,
                 "latency_limit_ms": load_settings.latency_limit_s * 1000,
                 # Locust's worker processes (0: one plain process) and those it waited for elsewhere.
                 "workers": load_settings.workers, "remote_workers": load_settings.remote_workers,
                 "user_classes": [] if run.manifest is None else list(run.manifest.users),
                 "shape": None if run.manifest is None else run.manifest.shape},
    }


def finish(run: Run, stack: Stack, budget: Budget | None) -> Result:
    observed = Observed(
        run_id=run.run_id, started_at=run.started, finished_at=run.clock.now(), t0=run.t0,
        timeline=run.timeline.events, deploy_log=run.deploy_log, releases=run.releases, jobs=run.jobs,
        actions=run.notes.actions, code_rollback_recovered=run.notes.code_rollback_recovered,
        outcome=None if run.outcome is None else Outcome(run.outcome), reason=run.reason,
        environment=environment_facts(run, stack), hygiene=run.hygiene, app_log=run.app_log, lint=run.lint,
    )
    result = measure(run.scenario, observed, read_records(run.records), read_records(run.run_dir / MATRIX_RECORDS))
    if budget is not None:
        past = history(run.run_dir.parent, run.scenario.name, result.started_at, budget.runs)
        result = apply_budget(result, past, budget)
    path = run.run_dir / "result.json"
    try:
        write_json(path, result.to_json())
        path = run.run_dir / "junit.xml"
        junit.write(path, [junit.testsuite(result)])
        run.timeline.record(Event.RESULT_WRITTEN, outcome=result.outcome)
        run.timeline.close()
        path = run.timeline.path
        run.timeline.rewrite()
        path = run.run_dir / "report.html"
        write_report(run.run_dir, strict=False, scenarios=catalogue.load_scenario)
    except InputError as exc:  # the report could not be written; the result was
        raise RecordingFailed(str(path), f"{exc.problem}; result.json was written") from None
    except OSError as exc:
        run.timeline.close()
        written = path.name != "result.json"
        raise RecordingFailed(str(path), f"cannot be written ({exc.strerror or exc}); "
                              + ("result.json was written" if written else "the result is shown here instead"),
                              None if written else result) from None
    if run.timeline.write_error is not None:
        raise RecordingFailed(str(run.timeline.path), f"could not be written whole "
                              f"({run.timeline.write_error.strerror}); result.json holds the run", None)
    return result
