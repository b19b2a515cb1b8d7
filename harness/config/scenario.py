"""Scenarios: one TOML file each, validated once into frozen values.

Every error names the file and the key. scenarios/bad-migration.toml documents every key of
a single fault; expand-contract.toml a [plan]; flag-kill-switch.toml a flag fault; and
detection-ladder.toml the log and uptime detectors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from harness.config.faultspec import FaultParser, FaultSpec, FaultTraits
from harness.config.tables import NAME, Table, is_file, read_toml
from harness.config.target import Target, find_target
from harness.errors import InputError

SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "scenarios"
MITIGATIONS = ("flag-off", "rollback")
MAX_ROUNDS = 40
LOGS = ("access", "app")
# [recovery] keys only a single fault (a deploy or the error switch) uses.
SINGLE_FAULT_RECOVERY = ("mode", "trigger", "after_s", "db", "code_window_s", "method", "fallback", "retry")
RECOVERY_MODES = ("auto", "operator")
TRIGGERS = ("alarm", "after")
DB_STEPS = ("never", "if-needed", "always")
RECOVERY_METHODS = ("rollback", "redeploy")
# What the operator does when the rollback command itself fails: deploy the start release
# again, as a new release (the manual fix most runbooks end with).
# What gameday does when its rollback fails, as the on-call's manual fix would: deploy the
# start release again, or restart the app's programs through the process manager.
FALLBACKS = ("redeploy", "restart")
MAX_USERS = 500
# Locust worker processes: one a core is Locust's advice; 64 leaves room for a load farm.
MAX_LOAD_WORKERS = 64
DAY_S = 86400.0
MAX_COUNT = 10**9  # requests or jobs: more than a rehearsal makes in a day


@dataclass(frozen=True)
class PlanFault:
    """A scenario with a [plan]: its steps are the fault, and t0 is when the first starts
    (`release` is the first step's). The plan kind (`rehearsal/faults/plan.py`) runs it."""

    release: str
    kind: str = "plan"
    traits: FaultTraits = FaultTraits(deploys=False, single=False,
                                      needs_shell=("plan", "each step's schema is saved with pg_dump"))

    def explain(self, events: Sequence[Mapping[str, Any]], impact_seen: bool) -> str | None:
        return None  # each step's failure is told by the plan's own result

    def advise(self, objective: str) -> str | None:
        return None


@dataclass(frozen=True)
class PlanStep:
    """One step of a plan: what it does (`expand`, `backfill`, …) and the release that does it."""

    name: str
    release: str


@dataclass(frozen=True)
class Plan:
    """A change rolled out as ordered releases (expand and contract: expand, write both,
    backfill, read new, contract), each deployed under load; with `round_trip`, each
    step is then rolled back and rolled forward again. `matrix` measures every release
    of the plan against every schema state it passed through, `burst_s` seconds each;
    `settle_s` is how long load is watched after each deploy, rollback and roll-forward."""

    steps: tuple[PlanStep, ...]
    settle_s: float = 3.0
    round_trip: bool = True
    matrix: bool = True
    burst_s: float = 2.0


@dataclass(frozen=True)
class Load:
    """Locust's load. `workers` > 0 runs Locust's own distributed mode: a master and that
    many worker processes on this machine, and the master also waits for `remote_workers`
    started on other machines, which reach it at `master_bind_host`:`master_port` (a free
    loopback port when None). Locust docs, "Distributed load generation"."""

    users: int
    spawn_rate: float
    locustfile: Path
    latency_limit_s: float
    workers: int = 0
    remote_workers: int = 0
    master_bind_host: str = "127.0.0.1"
    master_port: int | None = None

    @property
    def distributed(self) -> bool:
        return self.workers + self.remote_workers > 0


@dataclass(frozen=True)
class ErrorRateDetector:
    window_s: float
    threshold: float
    min_requests: int


# How long a health probe waits for an answer unless the scenario says: an uptime check's
# budget for one request. It used to be the interval, capped at 2 s; at interval_s = 0.5
# one answer slowed by a busy machine was a red probe, an alarm and an aborted baseline.
PROBE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class HealthDetector:
    """A poller of the target's health path: a probe every `interval_s` seconds, each given
    `timeout_s` to answer (a timeout is red), and an alarm after `failures` red in a row."""

    interval_s: float
    timeout_s: float
    failures: int


@dataclass(frozen=True)
class QueueLagDetector:
    interval_s: float
    max_age_s: float


@dataclass(frozen=True)
class LogDetector:
    """Alarm when `count` lines of one of the target's logs match within `window_s`: a
    line whose "status" is at least `status_min`, or that matches `pattern`. The log is
    read every `interval_s` as the web host writes it."""

    log: str
    path: str
    count: int
    window_s: float
    interval_s: float
    status_min: int | None
    pattern: str | None


@dataclass(frozen=True)
class Detectors:
    error_rate: ErrorRateDetector | None
    health: HealthDetector | None
    queue_lag: QueueLagDetector | None
    uptime: HealthDetector | None = None  # the same probe as health, as a cheap monitor polls it
    log: LogDetector | None = None

    def names(self) -> list[str]:
        """The detectors that are set, as their alarms name them."""
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]


@dataclass(frozen=True)
class Recovery:
    mode: str
    trigger: str
    after_s: float | None
    db: str
    code_window_s: float
    # For a flag fault, how each round is mitigated, in turn: "flag-off" flips the flag
    # back off, "rollback" rolls the release back.
    mitigations: tuple[str, ...] = ("flag-off",)
    # How the code goes back: "rollback" re-points `current` with the deploy tool's
    # rollback; "redeploy" deploys the start release again, as a new release, as teams
    # without a rollback command do (its migrations run up, never down).
    method: str = "rollback"
    # When the rollback command fails: None leaves it failed; "redeploy" deploys the start
    # release again, timed like any recovery command.
    fallback: str | None = None
    # When the fault's deploy ended without going live: deploy the same release once more,
    # as a team reruns a failed deploy (what a killed deploy's lock, or a half-applied
    # migration, does to the rerun is then on record).
    retry: bool = False


@dataclass(frozen=True)
class Objectives:
    """What the team promises, each an upper bound; None is not judged.

    Seconds for the `_s` ones (DESIGN.md, "A rehearsal: definitions"), counts for the rest.
    """

    time_to_detect_s: float | None
    time_to_rollback_s: float | None
    time_to_recover_s: float | None
    failed_requests: float | None
    lost_jobs: float | None

    def items(self) -> list[tuple[str, float]]:
        """(name, bound) for every objective that is set, in declaration order."""
        found = ((f.name, getattr(self, f.name)) for f in fields(self))
        return [(name, float(value)) for name, value in found if value is not None]


@dataclass(frozen=True)
class Phases:
    baseline_s: float
    detect_timeout_s: float
    recover_timeout_s: float
    stable_s: float
    drain_timeout_s: float


# How `gameday list` groups scenarios: what breaks.
GROUPS = ("basics", "migrations", "processes", "deploy tools")


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    path: Path
    target: Target
    start_release: str
    fault: FaultSpec
    load: Load
    detectors: Detectors
    recovery: Recovery
    objectives: Objectives
    phases: Phases
    plan: Plan | None = None
    # One line each about the file that did not stop it loading (a deprecated key), for the CLI to show.
    notes: tuple[str, ...] = ()
    group: str = GROUPS[0]  # one of GROUPS, for `gameday list`


def _seconds(t: Table, key: str, default: float, maximum: float = 3600) -> float:
    return float(t.number(key, default, positive=True, maximum=maximum) or default)


def _count(t: Table, key: str, default: int, maximum: int) -> int:
    return int(t.number(key, default, minimum=1, integer=True, maximum=maximum) or default)


def _fault(t: Table, target: Target, kinds: Mapping[str, FaultParser]) -> FaultSpec:
    """The `[fault]` table, parsed by its kind's own parser (`kinds`, by name)."""
    kind = t.choice("kind", tuple(kinds), next(iter(kinds)))
    fault = kinds[kind](t, target)
    t.finish()
    return fault


MAX_PLAN_STEPS = 20


def _plan(t: Table, target: Target, start_release: str) -> Plan:
    steps: list[PlanStep] = []
    tables = t.tables("steps")
    if not tables:
        raise t.error("steps", "is required: one [[plan.steps]] section per step, each with name and release")
    if len(tables) > MAX_PLAN_STEPS:
        raise t.error("steps", f"has {len(tables)} steps; at most {MAX_PLAN_STEPS}")
    for step in tables:
        release = step.string("release", pattern=NAME)
        if release not in target.releases:
            raise step.error("release", f"{release!r} is not a release of {target.name} ({', '.join(target.releases)})")
        if release == start_release or release in (s.release for s in steps):
            raise step.error("release", f"{release!r} is already live before this step; each step deploys "
                             "a release of its own")
        name = str(step.string("name", pattern=NAME))
        if name in (s.name for s in steps):
            raise step.error("name", f"{name!r} names an earlier step too; each step has a name of its own")
        steps.append(PlanStep(name, str(release)))
        step.finish()
    plan = Plan(
        steps=tuple(steps),
        settle_s=_seconds(t, "settle_s", 3.0, 600),
        round_trip=t.boolean("round_trip", True),
        matrix=t.boolean("matrix", True),
        burst_s=_seconds(t, "burst_s", 2.0, 600),
    )
    t.finish()
    return plan


def _check_existing(top: Table, target: Target, fault: FaultSpec, plan: Plan | None, recovery: Recovery) -> None:
    """What a rehearsal of an existing environment cannot do: it has no shell there, and
    `gameday rollback --run` (operator mode's command) acts on replicas only."""
    why = f"needs a shell on the web host; target {target.name} is an existing environment"
    if fault.traits.needs_shell is not None:
        key, what = fault.traits.needs_shell
        raise top.error(key, f"{why} ({what})")
    if recovery.fallback == "restart":
        raise top.error("recovery.fallback", f'"restart" {why}')
    if recovery.mode == "operator":
        raise top.error("recovery.mode", f'"operator" times `gameday rollback --run`, which acts on replicas; '
                        f"target {target.name} is an existing environment")


def _load(t: Table, scenario_dir: Path, target: Target) -> Load:
    users = _count(t, "users", 20, MAX_USERS)
    spawn_rate = _seconds(t, "spawn_rate", float(users), MAX_USERS)
    value = t.string("locustfile", required=False)
    if value is None:
        if target.locustfile is None:
            raise t.error("locustfile", f"is required: target {target.name} has no locustfile")
        locustfile = target.locustfile
    else:
        locustfile = (scenario_dir / value).resolve()
        if not is_file(locustfile):
            raise t.error("locustfile", f"{value!r} is not a file next to the scenario")
    latency_limit_s = _seconds(t, "latency_limit_ms", 1000, 600_000) / 1000
    workers = int(t.number("workers", 0, minimum=0, integer=True, maximum=MAX_LOAD_WORKERS) or 0)
    remote_workers = int(t.number("remote_workers", 0, minimum=0, integer=True, maximum=MAX_LOAD_WORKERS) or 0)
    bind_host = t.string("master_bind_host", required=False)
    port = t.number("master_port", None, minimum=1024, integer=True, maximum=65535)
    if (bind_host is not None or port is not None) and not remote_workers:
        key = "master_bind_host" if bind_host is not None else "master_port"
        raise t.error(key, "applies only with remote_workers: workers on this machine reach the master on loopback")
    if remote_workers and port is None:
        raise t.error("master_port", "is required with remote_workers: the workers on other machines connect to it")
    if remote_workers and bind_host is None:
        raise t.error("master_bind_host", "is required with remote_workers: an address the other machines reach "
                      "(the default, 127.0.0.1, is this machine's alone)")
    t.finish()
    return Load(users, spawn_rate, locustfile, latency_limit_s, workers, remote_workers,
                bind_host or "127.0.0.1", None if port is None else int(port))


def _health(t: Table, interval_default: float) -> HealthDetector:
    interval = _seconds(t, "interval_s", interval_default, DAY_S)
    detector = HealthDetector(
        interval_s=interval,
        timeout_s=_seconds(t, "timeout_s", PROBE_TIMEOUT_S, 60),
        failures=_count(t, "failures", 1, 100),
    )
    t.finish()
    return detector


def _log(t: Table, target: Target) -> LogDetector:
    name = t.choice("log", LOGS, "access")
    path = target.logs.get(name)
    if path is None:
        known = ", ".join(target.logs) or "none"
        raise t.error("log", f"target {target.name} declares no {name!r} log in [logs] (it has: {known})")
    status_min = t.number("status_min", None, minimum=100, maximum=599, integer=True)
    pattern = t.string("pattern", required=False)
    if (status_min is None) == (pattern is None):
        raise t.error("status_min", "or pattern: set exactly one, what a matching line is")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise t.error("pattern", f"is not a regular expression: {exc}") from None
    detector = LogDetector(log=name, path=path, count=_count(t, "count", 5, 100_000),
                           window_s=_seconds(t, "window_s", 5.0, 600), interval_s=_seconds(t, "interval_s", 0.5, 60),
                           status_min=None if status_min is None else int(status_min), pattern=pattern)
    t.finish()
    return detector


def _detectors(table: Table, target: Target) -> Detectors:
    error_rate = health = queue_lag = uptime = log = None
    if (t := table.optional_table("error_rate")) is not None:
        error_rate = ErrorRateDetector(
            window_s=_seconds(t, "window_s", 1.0, 600),
            threshold=float(t.number("threshold", 0.2, positive=True, maximum=1) or 0.2),
            min_requests=_count(t, "min_requests", 3, 100_000),
        )
        t.finish()
    if (t := table.optional_table("health")) is not None:
        health = _health(t, 1.0)
    if (t := table.optional_table("uptime")) is not None:
        uptime = _health(t, 60.0)
    if (t := table.optional_table("log")) is not None:
        log = _log(t, target)
    if (t := table.optional_table("queue_lag")) is not None:
        queue_lag = QueueLagDetector(interval_s=_seconds(t, "interval_s", 1.0), max_age_s=_seconds(t, "max_age_s", 5.0))
        t.finish()
    table.finish()
    return Detectors(error_rate, health, queue_lag, uptime, log)


def _recovery(t: Table, fault: FaultSpec) -> Recovery:
    trigger = t.choice("trigger", TRIGGERS, "alarm")
    mitigations = t.strings("mitigations") or ("flag-off",)
    unknown = [m for m in mitigations if m not in MITIGATIONS]
    if unknown:
        raise t.error("mitigations", f"{unknown[0]!r} is not one of {', '.join(MITIGATIONS)}")
    if len(set(mitigations)) < len(mitigations):
        raise t.error("mitigations", "lists a mitigation twice; use fault.repeat to run each again")
    traits = fault.traits
    if not traits.rounds and t.has("mitigations"):
        raise t.error("mitigations", 'is for a fault of kind "flag", measured in rounds')
    if not traits.single:
        # A plan's steps and a flag's rounds recover their own way: these keys would do nothing.
        ignored = [key for key in SINGLE_FAULT_RECOVERY if t.has(key)]
        if ignored:
            what = "a flag fault's rounds are mitigated by recovery.mitigations" if traits.rounds else \
                "a [plan] rolls each step back itself"
            raise t.error(ignored[0], f"is for a single fault; {what}")
    if "rollback" in mitigations and fault.release is None:
        raise t.error("mitigations", '"rollback" needs fault.release: the release to deploy and roll back')
    rounds = traits.rounds * len(mitigations)
    if rounds > MAX_ROUNDS:
        raise t.error("mitigations", f"with the fault's percents and repeat make {rounds} rounds; at most {MAX_ROUNDS}")
    after_s = t.number("after_s", None, positive=True, maximum=3600)
    if trigger == "after" and after_s is None:
        raise t.error("after_s", 'is required when trigger = "after"')
    recovery = Recovery(
        mode=t.choice("mode", RECOVERY_MODES, "auto"),
        trigger=trigger,
        after_s=after_s,
        db=t.choice("db", DB_STEPS, "if-needed"),
        code_window_s=_seconds(t, "code_window_s", 5.0),
        mitigations=mitigations,
        method=t.choice("method", RECOVERY_METHODS, "rollback"),
        fallback=t.choice("fallback", FALLBACKS, None),
        retry=t.boolean("retry", False),
    )
    t.finish()
    if recovery.retry and (not traits.deploys or recovery.mode == "operator"):
        raise t.error("retry", 'reruns the fault\'s deploy when it did not go live: it needs fault.kind = "deploy" '
                      'and mode = "auto"')
    if recovery.fallback is not None and (not traits.deploys or recovery.method != "rollback"
                                          or recovery.mode == "operator"):
        raise t.error("fallback", "is what gameday does when its rollback of a deploy fault fails: it needs "
                      'fault.kind = "deploy", method = "rollback" and mode = "auto"')
    if recovery.method == "redeploy" and not traits.deploys:
        raise t.error("method", '"redeploy" goes back from a deploy fault; this fault deploys nothing')
    if recovery.method == "redeploy" and recovery.db != "never":
        raise t.error("method", '"redeploy" deploys the old release again and never reverts the schema: '
                      'set db = "never"')
    if recovery.method == "redeploy" and recovery.mode == "operator":
        raise t.error("method", '"redeploy" is how gameday goes back; an operator chooses their own way')
    return recovery


def _objectives(t: Table) -> Objectives:
    objectives = Objectives(
        time_to_detect_s=t.number("time_to_detect_s", None, minimum=0, maximum=DAY_S),
        time_to_rollback_s=t.number("time_to_rollback_s", None, minimum=0, maximum=DAY_S),
        time_to_recover_s=t.number("time_to_recover_s", None, minimum=0, maximum=DAY_S),
        failed_requests=t.number("failed_requests", None, minimum=0, integer=True, maximum=MAX_COUNT),
        lost_jobs=t.number("lost_jobs", 0, minimum=0, integer=True, maximum=MAX_COUNT),
    )
    t.finish()
    return objectives


def _phases(t: Table) -> Phases:
    phases = Phases(
        baseline_s=_seconds(t, "baseline_s", 5.0),
        detect_timeout_s=_seconds(t, "detect_timeout_s", 60.0, DAY_S),
        recover_timeout_s=_seconds(t, "recover_timeout_s", 60.0, DAY_S),
        stable_s=_seconds(t, "stable_s", 5.0),
        drain_timeout_s=_seconds(t, "drain_timeout_s", 30.0),
    )
    t.finish()
    return phases


def load_scenario(path: Path, kinds: Mapping[str, FaultParser], tools_required: bool = True) -> Scenario:
    """The scenario in `path`, and its target; `kinds` parses `[fault]` by its kind (the
    first is the default; `harness.rehearsal.catalogue` passes the registry's). Raises
    InputError naming the file and key; with `tools_required=False`, a deploy tool its
    target needs and this machine lacks is recorded in `target.missing_tools` instead (`gameday list`, the nightly)."""
    source = str(path)
    top = Table(source, read_toml(path))

    def section(key: str) -> Table:
        return top.optional_table(key) or Table(source, {}, f"{key}.")

    name = top.string("name", required=False, pattern=NAME) or path.stem
    if not NAME.match(name):
        raise InputError(source, "name", f"{name!r} (from the file name) is not a valid name; set name")
    description = top.string("description", required=False) or ""
    group = top.choice("group", GROUPS, GROUPS[0])
    target_value = top.string("target", required=False) or "shop"
    try:
        # A path (it names a .toml file or has a slash) is relative to the scenario's directory.
        as_path = target_value.endswith(".toml") or "/" in target_value
        target = find_target(str(path.parent / target_value) if as_path else target_value, tools_required)
    except InputError as exc:
        if exc.key is not None or (exc.source != "--target" and is_file(Path(exc.source))):
            raise  # a problem inside the target file: it names that file (and key)
        raise top.error("target", exc.problem) from None
    start_release = top.string("start_release", required=False, pattern=NAME) or target.first_release
    if start_release not in target.releases:
        raise top.error("start_release",
                        f"{start_release!r} is not a release of {target.name} ({', '.join(target.releases)})")
    plan_table = top.optional_table("plan")
    plan = None
    if plan_table is not None:
        if top.has("fault"):
            raise top.error("plan", "and [fault] cannot both be set: a plan's steps are its fault")
        plan = _plan(plan_table, target, start_release)
        # The plan's first step is what breaks, if anything does: t0 is when it starts.
        fault: FaultSpec = PlanFault(plan.steps[0].release)
    else:
        fault = _fault(top.table("fault"), target, kinds)
    load = _load(section("load"), path.parent, target)
    detectors_table = top.optional_table("detectors")
    if detectors_table is None:
        raise top.error("detectors", "is required: name at least one of error_rate, health, uptime, log, queue_lag")
    detectors = _detectors(detectors_table, target)
    if not detectors.names():
        raise top.error("detectors", "names no detector: add error_rate, health, uptime, log or queue_lag")
    if detectors.queue_lag is not None and target.queue is None:
        raise top.error("detectors.queue_lag", f"target {target.name} has no [queue] queries")
    recovery = _recovery(section("recovery"), fault)
    notes: list[str] = []
    objectives_key = "objectives"
    if top.has("targets"):
        if top.has("objectives"):
            raise top.error("targets", "and [objectives] are the same section; keep only [objectives]")
        # Before the rename, the section was [targets]; "target" now means only the app.
        objectives_key = "targets"
        notes.append(f"{source}: [targets] is now [objectives]; it still loads")
    objectives = _objectives(section(objectives_key))
    phases = _phases(section("phases"))
    top.finish()
    if fault.release == start_release and plan is None:
        raise InputError(source, "fault.release", f"{start_release!r} is the start release, live already: the "
                         "fault deploys a release that is not live yet")
    if recovery.after_s is not None and recovery.after_s > phases.detect_timeout_s:
        raise InputError(source, "recovery.after_s", f"{recovery.after_s:g}s is longer than phases.detect_timeout_s "
                         f"({phases.detect_timeout_s:g}s), the time a fault has to be noticed in; shorten it or "
                         "raise the timeout")
    if target.environment is not None:
        _check_existing(top, target, fault, plan, recovery)
    return Scenario(
        name=name, description=description, path=path.resolve(), target=target, start_release=start_release,
        fault=fault, load=load, detectors=detectors, recovery=recovery, objectives=objectives, phases=phases,
        plan=plan, notes=tuple(notes), group=group,
    )


def scenario_files() -> list[Path]:
    return sorted(SCENARIOS_DIR.glob("*.toml"))


def find_scenario(name_or_path: str, kinds: Mapping[str, FaultParser], tools_required: bool = True) -> Scenario:
    """A built-in scenario by name, or any scenario file by path (`kinds` as for `load_scenario`)."""
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        return load_scenario(Path(name_or_path), kinds, tools_required)
    path = SCENARIOS_DIR / f"{name_or_path}.toml"
    if not is_file(path):
        known = ", ".join(p.stem for p in scenario_files())
        raise InputError(name_or_path, None, f"no such scenario; built-in scenarios: {known}")
    return load_scenario(path, kinds, tools_required)
