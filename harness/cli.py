"""The `gameday` command line: the one place where errors become messages and exit codes."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import __version__
from harness.errors import HarnessError, InputError, RecordingFailed
from harness.redaction import redact, redact_text
from harness.results.runid import check_run_id

if TYPE_CHECKING:
    from harness.config.scenario import Scenario
    from harness.config.target import Target
    from harness.deploy import Deployer
    from harness.environment import CommandResult
    from harness.environment.images import Images
    from harness.environment.pool import ReplicaPool
    from harness.environment.replica import Replica, Staging
    from harness.rehearsal.load import LoadManifest
    from harness.rehearsal.nightly import Nightly
    from harness.rehearsal.runbook import Stack
    from harness.results.budget import Budget
    from harness.results.model import Result

EXIT_INTERRUPTED = 130


def staging_here(sweep: bool = True) -> Staging:
    """A Staging on the local engine, after removing what dead gameday runs left behind
    (unless `sweep` is False: a rollback is on the recovery path, and the next command sweeps)."""
    from harness.environment.replica import Staging, connect

    staging = Staging(connect(), say)
    if sweep:
        staging.sweep()
    return staging


def say(message: str) -> None:
    print(redact_text(f"gameday: {message}"), file=sys.stderr, flush=True)


def echo(line: str) -> None:
    print(redact_text(line), flush=True)


def cmd_up(args: argparse.Namespace) -> int:
    from harness.config.target import find_target
    from harness.deploy.deployers import deployer_for
    from harness.environment import buildcache, state
    from harness.environment.images import ensure_images
    from harness.environment.processes import PROCESS_MANAGERS
    from harness.environment.replica import ReplicaEnvironment, new_run_id, owner_labels
    from harness.rehearsal.clock import SystemClock
    from harness.rehearsal.runbook import bring_up

    target = with_process_manager(find_target(args.target), args.process_manager)
    require_tools(target)
    if target.environment is not None:
        raise InputError(str(target.path), "environment", "names an environment that exists already: "
                         "`gameday up` starts replicas; rehearse it with `gameday run`")
    release = args.release or target.first_release
    if release not in target.releases:
        raise HarnessError(f"--release: {release!r} is not a release of {target.name} ({', '.join(target.releases)})")
    staging = staging_here()
    images = ensure_images(staging.client, target, args.base_image, say)
    buildcache.prefetch(target, say)
    run_id = state.claim(new_run_id("up", datetime.now(UTC)), "up")
    replica = staging.create(target, images, run_id, "up", owner_labels("up"))
    try:
        environment = ReplicaEnvironment(staging, replica)
        processes = PROCESS_MANAGERS[target.run.process_manager](environment)
        bring_up(target, environment, deployer_for(target)(environment), processes, release, SystemClock())
    except BaseException:
        staging.remove(run_id)
        raise
    if environment.access is not None:
        say(f"the web host over SSH, as the deploy user with this replica's own key: "
            f"ssh -F {environment.access.ssh_config} gameday")
    print(f"replica {replica.run_id} is up with {release}: {replica.url}")
    return 0


def reports_dir(path: str) -> Path:
    """The reports directory, checked writable without making anything: it, or the nearest
    directory above it that exists (the run makes the rest). Exit 2 before anything starts."""
    reports = Path(path)
    if "\0" in path:
        raise InputError("--reports", None, "must not contain a NUL byte")
    existing = reports.absolute()
    try:
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise HarnessError(f"{reports}: the reports directory is not writable ({existing} is not a directory)")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise HarnessError(f"{reports}: the reports directory is not writable ({existing}: "
                               f"{'read-only file system' if read_only(existing) else 'permission denied'})")
    except OSError as exc:
        raise HarnessError(f"{reports}: the reports directory is not writable ({exc.strerror})") from None
    return reports


def read_only(path: Path) -> bool:
    return bool(os.statvfs(path).f_flag & os.ST_RDONLY)


def budget_of(args: argparse.Namespace) -> Budget | None:
    from harness.results.budget import Budget

    if args.regression_budget is None:
        return None
    if not math.isfinite(args.regression_budget) or args.regression_budget <= 0 or args.budget_runs < 1:
        raise InputError("--regression-budget", None, f"must be a percentage above 0 (got "
                         f"{args.regression_budget:g}), and --budget-runs at least 1 (got {args.budget_runs})")
    return Budget(args.regression_budget, args.budget_runs)


def require_tools(target: Target) -> None:
    """InputError (exit 2) naming the first deploy tool `target` needs and this machine lacks."""
    if target.missing_tools:
        raise HarnessError(target.missing_tools[0])


def docker_stack(staging: Staging, target: Target, images: Images, replica: str | None = None) -> Stack:
    """A Docker replica per run (or `replica`, reset and reused: see
    harness/environment/pool.py), the target's deployer and its process manager."""
    from harness.deploy.deployers import deployer_for
    from harness.environment.pool import PooledStage
    from harness.environment.processes import PROCESS_MANAGERS
    from harness.environment.replica import DockerStage
    from harness.rehearsal.runbook import Stack

    fresh = DockerStage(staging, target, images)
    stage = fresh if replica is None else PooledStage(staging, target, replica, fresh, say)
    return Stack(stage.provision, deployer_for(target), PROCESS_MANAGERS[target.run.process_manager],
                 lambda: {**stage.describe(), "deployer": target.deploy.tool,
                          "process_manager": target.run.process_manager})


def rehearse_and_show(scenario: Scenario, args: argparse.Namespace, reports: Path, client: Any,
                      pool: ReplicaPool | None = None) -> Result:
    """Rehearse `scenario` and print its summary. The replica is `--replica`'s, or one of
    `pool`'s for a target whose replicas may be reused, or a fresh one."""
    from harness.environment import buildcache
    from harness.environment.images import ensure_images
    from harness.environment.pool import reusable
    from harness.environment.replica import Staging
    from harness.rehearsal.runbook import rehearse

    scenario = overridden(scenario, args)
    if scenario.target.environment is not None:
        stack = existing_stack(scenario.target)
    else:
        client = client or staging_here().client
        images = ensure_images(client, scenario.target, args.base_image, say)
        buildcache.prefetch(scenario.target, say)
        replica = getattr(args, "replica", None)
        if replica is None and pool is not None and reusable(scenario.target):
            replica = pool.replica_for(scenario.target, images)
        stack = docker_stack(Staging(client, say), scenario.target, images, replica)
    manifest = load_manifest(scenario)
    say(f"rehearsing {scenario.name}: {scenario.description}")
    # The operator prompt names gameday as it was started here, so it can be pasted.
    program = sys.argv[0] if Path(sys.argv[0]).name == "gameday" else f"{sys.executable} -m harness"
    run_dir, result = rehearse(
        scenario, stack, reports, operator=getattr(args, "operator", False), program=program,
        budget=budget_of(args), allow_remote=args.allow_remote_host, say=echo,
        progress=None if args.quiet else say, manifest=manifest,
    )
    echo(summary(result, run_dir))
    echo(f"  {run_dir / 'report.html'}")
    handshake = getattr(args, "result_file", None)
    if handshake:
        # The nightly's child says where its result is in a file of its own, not in its output.
        Path(handshake).write_text(json.dumps({"run_dir": str(run_dir), "outcome": str(result.outcome)}))
    return result


def existing_stack(target: Target) -> Stack:
    """The target's existing environment (`[environment]`): no Docker, no replica; the team's
    deploy commands, and no process manager gameday can see."""
    from harness.deploy.deployers import deployer_for
    from harness.environment.existing import ExistingStage, UnseenProcesses
    from harness.rehearsal.runbook import Stack

    stage = ExistingStage(target)
    stage.check()
    return Stack(stage.provision, deployer_for(target), UnseenProcesses, stage.describe)


def overridden(scenario: Scenario, args: argparse.Namespace) -> Scenario:
    """The scenario with the command line's `--load-workers` in place of its `[load]
    workers`, and `--process-manager` in place of its target's `run.process_manager`
    (each only when given)."""
    workers = getattr(args, "load_workers", None)
    if workers is not None:
        scenario = dataclasses.replace(scenario, load=dataclasses.replace(scenario.load, workers=workers))
    manager = getattr(args, "process_manager", None)
    if manager is not None:
        scenario = dataclasses.replace(scenario, target=with_process_manager(scenario.target, manager))
    return scenario


def with_process_manager(target: Target, manager: str | None) -> Target:
    """The target with `--process-manager` in place of its `run.process_manager` (None: as written)."""
    if manager is None:
        return target
    return dataclasses.replace(target, run=dataclasses.replace(target.run, process_manager=manager))


def load_workers(text: str) -> int:
    """argparse's reading of `--load-workers`: a whole number of Locust worker processes."""
    from harness.config.scenario import MAX_LOAD_WORKERS

    if not text.isdigit() or int(text) > MAX_LOAD_WORKERS:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {MAX_LOAD_WORKERS}, got {text!r}")
    return int(text)


def cmd_run(args: argparse.Namespace) -> int:
    from harness.rehearsal.catalogue import find_scenario

    scenario = find_scenario(args.scenario)
    for note in scenario.notes:
        say(note)
    if getattr(args, "operator", False) and not scenario.fault.traits.single:
        raise InputError(str(scenario.path), None, "--operator is for a single fault; a plan rolls each step back "
                         "itself and a flag fault's rounds are mitigated by recovery.mitigations")
    budget_of(args)
    check_existing(scenario, args)
    locustfile_manifest(scenario.load.locustfile)
    reports = reports_dir(args.reports)
    existing = scenario.target.environment is not None
    result = rehearse_and_show(scenario, args, reports, None if existing else staging_here().client)
    if result.outcome == "met":
        return 0
    if result.outcome == "gaps":
        return 1
    return 2


@functools.cache
def locustfile_manifest(locustfile: Path) -> LoadManifest:
    from harness.rehearsal.load import manifest

    return manifest(locustfile)


def load_manifest(scenario: Scenario) -> LoadManifest:
    """What the scenario's locustfile defines, loaded by Locust before anything starts
    (InputError, exit 2, when it cannot load); says so when a load shape sets the users."""
    found = locustfile_manifest(scenario.load.locustfile)
    if found.shape is not None:
        say(f"{scenario.load.locustfile.name}: its load shape {found.shape} sets the users over time; "
            f"[load] users and spawn_rate do not apply")
    return found


def check_existing(scenario: Scenario, args: argparse.Namespace) -> None:
    """Before anything starts, for a target that is an existing environment: load and probes
    leave this machine only when asked to, and what acts on replicas is refused. Raises
    InputError."""
    existing = scenario.target.environment
    if existing is None:
        return
    from harness.rehearsal.load import check_host

    check_host(existing.url, args.allow_remote_host, str(scenario.target.path), "environment.url")
    for option in ("process_manager", "operator"):
        if getattr(args, option, None):
            raise InputError(f"--{option.replace('_', '-')}", None, f"target {scenario.target.name} is an existing "
                             "environment, run as it is: its process manager is its own, and operator mode's "
                             "`gameday rollback --run` acts on replicas")


def cmd_nightly(args: argparse.Namespace) -> int:
    from harness.rehearsal.catalogue import find_scenario, scenario_files

    names = args.scenarios or [p.stem for p in scenario_files()]
    # Every file is checked before any run, with the command line's overrides applied. A
    # scenario whose deploy tool is not installed here is skipped, not the whole night.
    loaded = {name: overridden(find_scenario(name, tools_required=False), args) for name in names}
    skipped = {name: scenario.target.missing_tools[0] for name, scenario in loaded.items()
               if scenario.target.missing_tools}
    scenarios = {name: scenario for name, scenario in loaded.items() if name not in skipped}
    for name, why in skipped.items():
        say(f"nightly: skipping {name}: {why}")
    for note in (note for scenario in scenarios.values() for note in scenario.notes):
        say(note)
    for scenario in scenarios.values():
        check_existing(scenario, args)
        locustfile_manifest(scenario.load.locustfile)
    budget_of(args)
    if args.jobs < 1:
        raise InputError("--jobs", None, f"must be at least 1, got {args.jobs}")
    reports = reports_dir(args.reports)
    # Docker only when some scenario rehearses a replica.
    staging = None if all(s.target.environment for s in scenarios.values()) else staging_here()
    client = None if staging is None else staging.client
    pool = None if args.fresh_replicas or staging is None else replica_pool(staging)
    started = time.monotonic()
    try:
        nightly = nightly_runs(scenarios, args, reports, client, pool, skipped)
    finally:
        if pool is not None:
            pool.close()
    for run in nightly.runs:
        state = run.result.outcome if run.result else f"could not run: {run.error}"
        print(f"  {run.name:<30} {state}")
    for name, why in nightly.skipped.items():
        print(f"  {name:<30} skipped: {why}")
    print(f"nightly: {len(nightly.runs)} scenarios in {time.monotonic() - started:.0f} s"
          f"{'' if pool is None else ', replicas reused'}; exit {nightly.exit_code}\n  {nightly.junit}\n"
          f"  {nightly.trend}")
    return nightly.exit_code


def replica_pool(staging: Staging) -> ReplicaPool:
    """The nightly's pool, its replicas named after the nightly and the slot."""
    from harness.environment.pool import ReplicaPool
    from harness.results.runid import new_run_id

    stamp = datetime.now(UTC)
    count = itertools.count(1)
    # The process id keeps two nightlies started in the same second apart.
    return ReplicaPool(staging, lambda target: new_run_id(f"pool-{target}-{os.getpid()}-{next(count)}", stamp))


def nightly_runs(scenarios: dict[str, Scenario], args: argparse.Namespace, reports: Path, client: Any,
                 pool: ReplicaPool | None, skipped: dict[str, str]) -> Nightly:
    """Every scenario, in this process (`--jobs 1`) or in `gameday run` processes; the
    `skipped` ones (name: why) only in the JUnit and the summary."""
    from harness.rehearsal.nightly import run_all

    if args.jobs == 1:
        return run_all(list(scenarios), reports,
                       lambda name: rehearse_and_show(scenarios[name], args, reports, client, pool), say,
                       skipped=skipped)
    from harness.environment import buildcache
    from harness.environment.images import ensure_images
    from harness.environment.pool import reusable

    # Built once here, so the runs do not build the same images side by side. A target
    # that cannot be built fails its own scenarios only, as it would one at a time.
    unbuilt: dict[str, str] = {}
    for target in {s.target.name: s.target for s in scenarios.values() if s.target.environment is None}.values():
        try:
            ensure_images(client, target, args.base_image, say)
            buildcache.prefetch(target, say)
        except HarnessError as exc:
            unbuilt[target.name] = str(exc)
    children = Children()

    def one(name: str) -> Result:
        scenario = scenarios[name]
        if scenario.target.name in unbuilt:
            raise HarnessError(unbuilt[scenario.target.name])
        replica = None
        if pool is not None and reusable(scenario.target):
            replica = pool.replica_for(scenario.target, ensure_images(client, scenario.target, args.base_image,
                                                                      say))
        return rehearse_in_child(scenario, args, reports, children, replica)

    try:
        return run_all(list(scenarios), reports, one, say, jobs=args.jobs, skipped=skipped)
    finally:
        children.stop()  # none is left running, however the nightly ends


# How long an interrupted nightly waits for its runs to remove their replicas after SIGTERM.
CHILD_STOP_S = 180.0


class Children:
    """The `gameday run` processes of `nightly --jobs N`. Once stopped, none is started."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen[str]] = []
        self.stopped = False
        self._lock = threading.Lock()

    def start(self, argv: list[str]) -> subprocess.Popen[str]:
        from harness.environment import children

        with self._lock:
            if self.stopped:
                raise HarnessError("the nightly was stopped")
            # Its own process group, ended with the nightly: given the time a run takes to remove its replica.
            child: subprocess.Popen[str] = children.start(argv, grace_s=CHILD_STOP_S, stdout=subprocess.PIPE,
                                                          stderr=subprocess.STDOUT, text=True, errors="replace")
            self.running.append(child)
            return child

    def stop(self) -> None:
        """SIGTERM to the runs still going, as to any gameday run: each removes its replica."""
        with self._lock:
            self.stopped = True
            children = list(self.running)
        for child in children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + CHILD_STOP_S
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
            self.done(child)

    def done(self, child: subprocess.Popen[str]) -> None:
        """The run ended: its process group is forgotten by the reaper and the state directory."""
        from harness.environment import children

        children.ended(child)


def rehearse_in_child(scenario: Scenario, args: argparse.Namespace, reports: Path, children: Children,
                      replica: str | None = None) -> Result:
    """One scenario of `nightly --jobs N` in its own `gameday run` process, with its own
    signal handling and cleanup; its output is printed in one piece when it ends. Raises
    HarnessError (with the run's last line) when it wrote no result."""
    from harness.results.model import read_result

    argv = [sys.executable, "-m", "harness", "run", str(scenario.path), "--reports", str(reports),
            "--base-image", args.base_image, "--budget-runs", str(args.budget_runs)]
    argv += ["--quiet"] if args.quiet else []
    argv += [] if replica is None else ["--replica", replica]
    argv += ["--allow-remote-host"] if args.allow_remote_host else []
    argv += [] if args.load_workers is None else ["--load-workers", str(args.load_workers)]
    argv += [] if args.process_manager is None else ["--process-manager", args.process_manager]
    argv += [] if args.regression_budget is None else ["--regression-budget", str(args.regression_budget)]
    with tempfile.TemporaryDirectory(prefix="gameday-nightly-") as handshake:
        told = Path(handshake) / "result.json"
        child = children.start([*argv, "--result-file", str(told)])
        try:
            out, _ = child.communicate()
        finally:
            children.done(child)
        print(out, end="", flush=True)
        try:
            run_dir = Path(json.loads(told.read_text())["run_dir"])
        except (OSError, ValueError, KeyError, TypeError):
            run_dir = None  # the child wrote no result: its last line says why
    result_file = None if run_dir is None else run_dir / "result.json"
    if result_file is None or not result_file.is_file():
        last = (out.strip().splitlines() or [f"exited {child.returncode}"])[-1]
        raise HarnessError(last.removeprefix("gameday: "))
    return read_result(result_file)


def summary(result: Result, run_dir: Path) -> str:
    times, durations, requests, jobs = result.times, result.durations, result.requests, result.jobs

    def fmt(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f}s"

    lines = [
        f"{result.scenario}: {result.outcome.upper()}" + (f" ({result.reason})" if result.reason else ""),
        f"  impact {fmt(times.impact_s)}  detect {fmt(times.detect_s)}  "
        f"rollback {fmt(times.rollback_started_s)}..{fmt(times.rollback_done_s)}  "
        f"recovered {fmt(times.recovered_s)}   (seconds after the fault)",
        f"  time to detect {fmt(durations.time_to_detect_s)}  roll back {fmt(durations.time_to_rollback_s)}  "
        f"recover {fmt(durations.time_to_recover_s)}",
        f"  requests {requests.total}, failed {requests.failed_in_incident} after the fault"
        + (f"; jobs {jobs.enqueued} enqueued, {jobs.lost} lost, {jobs.duplicated} duplicated" if jobs else ""),
    ]
    if result.plan is not None:
        lines.extend(plan_lines(result))
    for r in result.rounds:
        mitigate = "—" if r.time_to_mitigate_s is None else f"{r.time_to_mitigate_s:.2f}s"
        radius = "—" if r.blast_radius is None else f"{r.blast_radius:.1%}"
        lines.append(f"  round {r.index}: flag on for {r.percent}%, {r.mitigation}: mitigated {mitigate} after the "
                     f"first failure; {r.failed}/{r.requests} failed (blast radius {radius})")
    if len(result.detection.ladder) > 1:
        lines.append("  detection ladder: " + ", ".join(
            f"{r.detector} {'never' if r.detect_s is None else f'{r.detect_s:.2f}s'}" for r in result.detection.ladder))
    for d in result.drains:
        began = "—" if d.started_s is None else f"{d.started_s:.2f}s"
        drained = "" if d.jobs is None else (
            f"; jobs {d.jobs.in_progress} in progress: {d.jobs.completed} completed, {d.jobs.requeued} requeued, "
            f"{d.jobs.lost} lost, {d.jobs.doubled} doubled")
        lines.append(f"  drain at {d.action} reload ({began}): {d.in_flight} in flight, {d.completed} completed, "
                     f"{d.cut} cut" + drained + (f": {d.why}" if d.cut else ""))
    for o in result.objectives:
        measured = "—" if o.measured is None else f"{o.measured:g}"
        verdict = {True: "met ", False: "GAP ", None: "n/a "}[o.met]
        lines.append(f"  {verdict} {o.name:<20} {measured:>8} (objective {o.objective:g})")
    for gap in result.gaps:
        lines.append(f"  gap: {gap.name}: {gap.cause}")
    lines.append(f"  {run_dir / 'result.json'}")
    return "\n".join(lines)


def plan_lines(result: Result) -> list[str]:
    """A plan's steps and compatibility matrix, a line each, for the terminal."""
    plan = result.plan
    assert plan is not None
    safe = {True: "yes", False: "NO", None: "—"}
    lines = [f"  {'step':<22} {'failed':>12} {'p95':>8}  rollback safe"]
    for s in plan.steps:
        p95 = "—" if s.p95_ms is None else f"{s.p95_ms:.0f}ms"
        lines.append(f"  {f'{s.index}. {s.name}':<22} {f'{s.failed}/{s.requests}':>12} {p95:>8}  "
                     f"{safe[s.rollback_safe]}")
    if plan.matrix:
        names = {True: "serves", False: "FAILS", None: "—"}
        lines.append(f"  {'matrix':<22} " + " ".join(f"{'after ' + st.after:>16}" for st in plan.states))
        for release in plan.releases:
            cells = (plan.cell(release, st.index) for st in plan.states)
            lines.append(f"  {release:<22} " + " ".join(f"{names[c.serves] if c else '—':>16}" for c in cells))
    return lines


def cmd_report(args: argparse.Namespace) -> int:
    from harness.rehearsal.catalogue import load_scenario
    from harness.reporting.report import write_report

    print(write_report(Path(args.run_dir), scenarios=load_scenario))
    return 0


def cmd_trend(args: argparse.Namespace) -> int:
    from harness.reporting.trend import write_trend

    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since).replace(tzinfo=UTC) if "T" not in args.since else \
                datetime.fromisoformat(args.since.replace("Z", "+00:00"))
        except ValueError:
            raise HarnessError(f"--since: {args.since!r} is not a date (YYYY-MM-DD)") from None
    print(write_trend(Path(args.reports), since=since, scenario=args.scenario, strict=True))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """Every built-in scenario by group; one whose deploy tool is not installed here is
    listed too, marked with what it needs."""
    from harness.config.scenario import GROUPS
    from harness.rehearsal.catalogue import load_scenario, scenario_files

    scenarios = [load_scenario(path, tools_required=False) for path in scenario_files()]
    for group in GROUPS:
        members = [s for s in scenarios if s.group == group]
        if not members:
            continue
        print(f"{group}:" if group == GROUPS[0] else f"\n{group}:")
        for scenario in members:
            print(f"  {scenario.name:<30} {scenario.description}")
            needs = dict.fromkeys(missing.rsplit(": ", 1)[-1] for missing in scenario.target.missing_tools)
            for need in needs:
                print(f"  {'':<30} cannot run here: {need}")
    return 0


def note_operator(replica: Replica, args: Sequence[str], started: float, exit_status: int) -> None:
    """During an operator-mode rehearsal, every command against its replica is timed: when
    it started, and whether it worked (a rollback refused by the deploy lock is no rollback)."""
    from harness.environment.replica import REPORTS_LABEL

    run_dir = replica.labels.get(REPORTS_LABEL)
    if not run_dir or not Path(run_dir).is_dir():
        return
    with (Path(run_dir) / "operator.jsonl").open("a") as fh:
        fh.write(json.dumps(redact({"ts": started, "command": " ".join(args), "exit_status": exit_status,
                                    "ended": time.time()})) + "\n")


@contextmanager
def acting_on(args: argparse.Namespace, staging: Staging, *command: str) -> Iterator[Replica]:
    """The replica a command acts on; the command is noted for operator mode when it ends."""
    replica = staging.find(None if args.run is None else check_run_id(args.run))
    started, exit_status = time.time(), 1
    try:
        yield replica
        exit_status = 0
    except HarnessError as exc:
        exit_status = exc.exit_code
        raise
    finally:
        note_operator(replica, command, started, exit_status)


def team_deployer(staging: Staging, replica: Replica) -> Deployer | None:
    """The team's own deployer for a replica whose target has `[deploy]` commands, else None
    (the built-in deploy tool in the web host). Read from the replica's label: no target
    file is loaded on the way to a timed rollback."""
    from harness.config.target import DeployCommands
    from harness.environment.replica import DEPLOY_LABEL, ReplicaEnvironment

    label = replica.labels.get(DEPLOY_LABEL)
    commands = DeployCommands() if not label else DeployCommands.from_json(label)
    if not commands.own_commands:
        return None  # the built-in tool: nothing more to import on the way to a timed rollback
    from harness.deploy.commands import CommandsDeployer

    return CommandsDeployer(ReplicaEnvironment(staging, replica), commands)


def team_command(result: CommandResult) -> None:
    """Show a team command's output; its failure is gameday's, with its exit status as the
    deploy tool's would be (1 for a failure)."""
    from harness.errors import DeployToolError

    print(result.stdout, end="")
    print(result.stderr, end="", file=sys.stderr)
    if not result.ok:
        raise DeployToolError(f"`{' '.join(result.argv)}` exited {result.exit_status}: {result.last_line()}",
                              command=result.argv, exit_status=1)


def cmd_deploy(args: argparse.Namespace) -> int:
    staging = staging_here()
    tool_args = ["deploy", args.release] + (["--no-gate"] if args.no_gate else [])
    with acting_on(args, staging, *tool_args) as replica:
        team = team_deployer(staging, replica)
        if team is None:
            staging.deploy_tool_checked(replica, tool_args, echo)
            return 0
        running = team.start_deploy(args.release, gate=not args.no_gate)
        try:
            while (result := running.poll()) is None:
                time.sleep(0.05)
        finally:
            if running.poll() is None:  # interrupted here: the team's command goes too
                say(running.stop())
        team_command(result)
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    staging = staging_here(sweep=False)
    tool_args = ["rollback"] + ([args.release] if args.release else [])
    tool_args += (["--db"] if args.db else []) + (["--db-only"] if args.db_only else [])
    with acting_on(args, staging, *tool_args) as replica:
        team = team_deployer(staging, replica)
        if team is None:
            staging.deploy_tool_checked(replica, tool_args, echo)
        elif args.release:
            raise HarnessError("rollback RELEASE: the target's own rollback command takes no release")
        else:
            team_command(team.db_rollback() if args.db_only else team.rollback(db=args.db))
    return 0


def cmd_releases(args: argparse.Namespace) -> int:
    staging = staging_here()
    with acting_on(args, staging, "releases") as replica:
        print(staging.deploy_tool_checked(replica, ["releases"]).stdout, end="")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    staging = staging_here()
    with acting_on(args, staging, "status") as replica:
        status = staging.status(replica)
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    print(f"run       {status['run_id']}  (target {status['target']})")
    print(f"url       {status['url']}")
    print(f"release   {status['current_release']} ({status['current_name']})")
    for c in status["containers"]:
        ports = ", ".join(b for binds in c["ports"].values() for b in binds)
        print(f"{c['role']:<9} {c['name']}  {c['status']}  {ports}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    """Remove a replica (`--run`, or the only one), or with `--all` every replica this
    machine's user made; another user's or machine's are left alone, and said so."""
    from harness.environment import state
    from harness.environment.replica import made_here, not_another_users

    if args.run is not None:
        check_run_id(args.run)
    staging = staging_here()
    if args.all:
        runs = staging.run_ids(made_here)
        others = sorted(set(staging.run_ids()) - set(runs))
        if others:
            say(f"leaving {len(others)} replicas made by another user or machine (or an older gameday that did not "
                f"label its user): {', '.join(others[:5])}{'…' if len(others) > 5 else ''}; "
                "remove one with `gameday down --run RUN_ID`")
    elif args.run:
        runs = [args.run]
        labelled = [found for found in staging.resource_labels() if found.get("gameday.run") == args.run]
        if not labelled and not state.run_directory(args.run).exists():
            raise InputError("--run", None, f"no replica {args.run} on this Docker engine and no state of it here")
        if labelled and not any(not_another_users(found) for found in labelled):
            raise InputError("--run", None, f"replica {args.run} was made by another user; it is theirs to remove")
    else:
        runs = [staging.find(None).run_id]
    if not runs:
        print("no gameday resources to remove")
    for run_id in runs:
        counts = staging.remove(run_id)
        state.release(run_id)
        print(f"removed {run_id}: " + ", ".join(f"{n} {kind if n == 1 else kind + 's'}" for kind, n in (
            ("container", counts["containers"]), ("network", counts["networks"]), ("volume", counts["volumes"]))))
    return 0


def add_rehearsal_options(p: argparse.ArgumentParser) -> None:
    """What `run` and `nightly` share: where results go, output, base image and budget."""
    p.add_argument("--reports", default="reports", help="where run directories go (default: reports)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--allow-remote-host", action="store_true",
                   help="let load and probes aim at a replica URL that is not loopback (never needed for "
                        "Docker replicas, whose ports are published on 127.0.0.1)")
    p.add_argument("--load-workers", type=load_workers, metavar="N",
                   help="run Locust distributed: a master and N worker processes on this machine "
                        "(default: the scenario's [load] workers; 0 is one plain Locust process)")
    add_process_manager(p)
    add_base_image(p)
    p.add_argument("--regression-budget", type=float, metavar="PCT",
                   help="also fail a target more than PCT%% worse than the median of recent runs in --reports")
    p.add_argument("--budget-runs", type=int, default=5, metavar="N",
                   help="how many recent runs the budget's median covers (default 5)")


def add_process_manager(p: argparse.ArgumentParser) -> None:
    from harness.config.target import PROCESS_MANAGERS

    p.add_argument("--process-manager", choices=PROCESS_MANAGERS,
                   help="run the app server and the worker under this process manager instead of the "
                        "target's run.process_manager (systemd boots as PID 1 in the web host)")


def add_base_image(p: argparse.ArgumentParser) -> None:
    from harness.environment.images import DEFAULT_BASE_IMAGE

    p.add_argument("--base-image", default=os.environ.get("BASE_IMAGE", DEFAULT_BASE_IMAGE),
                   help=f"image the Dockerfiles start FROM (default: $BASE_IMAGE or {DEFAULT_BASE_IMAGE})")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="gameday", description="Rehearse rollbacks against a staging replica.")
    top.add_argument("--version", action="version", version=f"gameday {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, with_run: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        if with_run:
            p.add_argument("--run", metavar="RUN_ID", help="the replica to act on (default: the only one)")
        return p

    p = command("up", "build if needed, start a replica and deploy its first release", with_run=False)
    p.add_argument("--target", default="shop", help="bundled target name or target.toml path (default: shop)")
    p.add_argument("--release", help="release to deploy first (default: the target's first_release)")
    add_process_manager(p)
    add_base_image(p)
    p.set_defaults(func=cmd_up)

    p = command("run", "rehearse a scenario: replica, load, fault, detection, recovery, result", with_run=False)
    p.add_argument("scenario", help="a built-in scenario name (see `gameday list`) or a scenario file path")
    p.add_argument("--operator", action="store_true", help="a person detects and rolls back; gameday times them")
    p.add_argument("--replica", metavar="RUN_ID", help=argparse.SUPPRESS)  # nightly's pool: reset and reuse
    # The nightly's handshake with its `gameday run` children: where the run's result is.
    p.add_argument("--result-file", metavar="PATH", help=argparse.SUPPRESS)
    add_rehearsal_options(p)
    p.set_defaults(func=cmd_run)

    p = command("report", "re-render a run's report.html from its recorded data", with_run=False)
    p.add_argument("run_dir", help="a run directory, such as reports/20261128T101500Z-bad-migration")
    p.set_defaults(func=cmd_report)

    p = command("trend", "render reports/trend.html: each scenario's times and targets over its runs",
                with_run=False)
    p.add_argument("reports", nargs="?", default="reports", help="the reports directory (default: reports)")
    p.add_argument("--since", help="only runs started on or after this date (YYYY-MM-DD)")
    p.add_argument("--scenario", help="only this scenario")
    p.set_defaults(func=cmd_trend)

    p = command("nightly", "rehearse every scenario (or those named), write merged JUnit and the trend report",
                with_run=False)
    p.add_argument("scenarios", nargs="*", help="scenario names or files (default: every built-in scenario)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="rehearse N scenarios at a time, each on its own replica and in its own process (default 1)")
    p.add_argument("--fresh-replicas", action="store_true",
                   help="a new replica for every scenario, instead of one per target and job reset between them")
    add_rehearsal_options(p)
    p.set_defaults(func=cmd_nightly)

    p = command("list", "list the built-in scenarios", with_run=False)
    p.set_defaults(func=cmd_list)

    p = command("deploy", "deploy a release to the replica")
    p.add_argument("release")
    p.add_argument("--no-gate", action="store_true", help="put the release live without the health gate")
    p.set_defaults(func=cmd_deploy)

    p = command("rollback", "swap back to the previous release (or the one named)")
    p.add_argument("release", nargs="?", help="an older release to go back to (default: the previous good one)")
    schema = p.add_mutually_exclusive_group()
    schema.add_argument("--db", action="store_true", help="also revert the abandoned release's schema")
    schema.add_argument("--db-only", action="store_true",
                        help="only revert the schema of the release last rolled back from (or aborted)")
    p.set_defaults(func=cmd_rollback)

    p = command("releases", "list the replica's releases; * marks current")
    p.set_defaults(func=cmd_releases)

    p = command("status", "show the replica's URL, current release and containers")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = command("down", "remove a replica's containers, network and volume")
    p.add_argument("--all", action="store_true",
                   help="remove every replica this user made on this machine (never another user's)")
    p.set_defaults(func=cmd_down)
    return top


def interrupt_on_signals() -> None:
    """SIGINT and SIGTERM interrupt once; while gameday cleans up, more of them wait."""
    seen = False

    def handler(signum: int, frame: object) -> None:
        nonlocal seen
        if seen:
            say("still cleaning up: stopping the load, undoing the fault, removing the replica")
            return
        seen = True
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str] | None = None) -> int:
    from harness.environment import children

    args = parser().parse_args(argv)
    interrupt_on_signals()
    try:
        # A run id is never a path: checked before anything is asked of Docker or the disk.
        for option in ("run", "replica"):
            if getattr(args, option, None) is not None:
                check_run_id(getattr(args, option), f"--{option}")
        # What a gameday killed before it could clean up left running on this machine.
        children.sweep(say)
        return int(args.func(args))
    except KeyboardInterrupt:
        say("interrupted")
        return EXIT_INTERRUPTED
    except RecordingFailed as exc:
        from harness.results.model import Result

        if isinstance(exc.result, Result):  # measured, but result.json could not be written: here it is
            print(redact_text(summary(exc.result, Path(exc.path).parent)), file=sys.stderr)
        say(str(exc))
        return exc.exit_code
    except HarnessError as exc:
        say(str(exc))
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
