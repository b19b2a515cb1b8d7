"""The HTML report of one run: a model built from the run's files, rendered with Jinja2 into
one self-contained page (inline CSS and SVG, no script) that opens from file:// or a CI
artifact. A run that crashed still gets a report from whatever it wrote, marked incomplete."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from harness.config.scenario import Scenario
from harness.errors import HarnessError, InputError
from harness.reporting.buckets import aggregate, span_of
from harness.reporting.chart import Chart, build_chart
from harness.results import model
from harness.results.files import write_text
from harness.results.measure import Observed, measure
from harness.results.model import (
    Drain,
    Gap,
    Hygiene,
    Lint,
    LoadSettings,
    Outcome,
    PlanResult,
    Result,
    RoundResult,
    Rung,
    SchemaCheck,
    Step,
)
from harness.results.records import MATRIX_RECORDS, RECORDS, damaged_records, read_records
from harness.results.rounds import Comparison, compare
from harness.results.timeline import Event, read_timeline

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Row:
    label: str
    measured: str
    objective: str  # the bound as shown, or "not set"
    met: bool | None
    note: str = ""


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    met: bool | None


@dataclass(frozen=True)
class CommandRun:
    """A command the rehearsal ran (the fault's deploy, a rollback), as it saw it."""

    command: str
    started_s: float | None  # seconds after t0
    took_s: float | None
    exit_status: int | None
    output: tuple[str, ...]  # its last lines (stderr first), for a failure's reason


# Each command's start event and the event that ends it.
COMMAND_EVENTS = {Event.FAULT_INJECTED: Event.DEPLOY_FINISHED, Event.ROLLBACK_STARTED: Event.ROLLBACK_FINISHED,
                  Event.PLAN_STEP_STARTED: Event.PLAN_STEP_FINISHED}


def command_runs(timeline: list[dict[str, Any]], t0: float) -> tuple[CommandRun, ...]:
    """Each deploy and recovery command from its start and finish events, in start order;
    a deploy's finish pairs with the deploy even when a rollback ran meanwhile."""
    runs: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    open_by_end: dict[str, int] = {}
    for event in timeline:
        name = event["event"]
        if name in COMMAND_EVENTS and event.get("command"):
            open_by_end[COMMAND_EVENTS[name]] = len(runs)
            runs.append((event, None))
        elif name in open_by_end:
            index = open_by_end.pop(name)
            runs[index] = (runs[index][0], event)
    return tuple(
        CommandRun(
            command=str(start["command"]), started_s=float(start["ts"]) - t0,
            took_s=None if end is None else float(end["ts"]) - float(start["ts"]),
            exit_status=None if end is None else end.get("exit_status"),
            output=() if end is None else tuple(end.get("output") or ()),
        )
        for start, end in runs
    )


@dataclass(frozen=True)
class ReportModel:
    run_id: str
    scenario: str
    description: str
    outcome: Outcome
    headline: str
    subline: str
    what_happened: str | None  # the incident's cause: what really happened
    complete: bool  # the run finished and wrote its result
    rebuilt: bool  # no result.json: rebuilt from what the run had written
    tiles: tuple[Tile, ...]
    rows: tuple[Row, ...]
    chart: Chart
    gaps: tuple[Gap, ...]
    steps: tuple[Step, ...]
    commands: tuple[CommandRun, ...]
    events: tuple[tuple[str, str, str], ...]
    details: tuple[tuple[str, str], ...]
    result_json: str
    plan: PlanResult | None = None
    burst: str = ""  # a matrix cell's burst, as the scenario set it
    rounds: tuple[RoundResult, ...] = ()
    by_mitigation: tuple[Comparison, ...] = ()
    by_percent: tuple[Comparison, ...] = ()
    drains: tuple[Drain, ...] = ()
    ladder: tuple[Rung, ...] = ()
    lint: Lint | None = None
    schema_checks: tuple[SchemaCheck, ...] = ()
    damage: tuple[str, ...] = ()  # the run's files or lines that could not be read


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f} s" if abs(value) < 100 else f"{value:.0f} s"


def number(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


LABELS = {"time_to_detect_s": "time to detect", "time_to_rollback_s": "time to roll back",
          "time_to_recover_s": "time to recover", "failed_requests": "failed requests", "lost_jobs": "lost jobs",
          "false_alarms": "false alarms"}


def label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " "))


def jenv() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["label"] = label
    env.filters["secs"] = seconds
    env.filters["share"] = share
    return env


def share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


# --- reading a run ------------------------------------------------------------------


@dataclass(frozen=True)
class RunFiles:
    """What a run directory holds, read with every damaged file named: `result` is
    result.json when it reads (`result_problem` says why it does not, when it is there);
    `damage` names each other file or line left out, as `FILE: line N: why`."""

    result: Result | None
    result_problem: str | None
    timeline: list[dict[str, Any]]
    damage: tuple[str, ...]


def read_run(run_dir: Path) -> RunFiles:
    """Read a run directory. Raises InputError when it is no run directory or cannot be read."""
    if not run_dir.is_dir():
        raise InputError(str(run_dir), None, "no such run directory")
    result, problem = None, None
    path = run_dir / "result.json"
    if path.exists():
        try:
            result = model.read_result(path)
        except InputError as exc:
            problem = str(exc)
    damage: list[str] = [] if problem is None else [problem]
    timeline_path = run_dir / "timeline.jsonl"
    try:
        timeline = read_timeline(timeline_path)
    except OSError as exc:
        raise InputError(str(timeline_path), None, f"cannot be read ({exc.strerror})") from None
    damage += [f"{timeline_path}: {line}" for line in timeline.damaged]
    for name in (RECORDS, MATRIX_RECORDS):
        count, first = damaged_records(run_dir / name)
        damage += [f"{run_dir / name}: {line}" for line in first]
        if count > len(first):
            damage.append(f"{run_dir / name}: {count - len(first)} more lines that are not request records")
    return RunFiles(result, problem, timeline.events, tuple(damage))


def run_meta(run_dir: Path) -> dict[str, Any]:
    """run.json, what a run writes first: its id, scenario, scenario file and start.
    Raises InputError naming the file and key."""
    path = run_dir / "run.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(str(run_dir), None, "is not a gameday run directory (no result.json or run.json)") from None
    except OSError as exc:
        raise InputError(str(path), None, f"cannot be read ({exc.strerror})") from None
    except (ValueError, RecursionError) as exc:
        raise InputError(str(path), None, f"is not valid JSON ({exc}): the run was cut off while writing it") \
            from None
    if not isinstance(data, dict):
        raise InputError(str(path), None, "must be a JSON object")
    checks = (("run_id", lambda v: isinstance(v, str) and v, "the run's id"),
              ("scenario", lambda v: isinstance(v, str) and v, "a name"),
              ("scenario_path", lambda v: isinstance(v, str) and v and "\0" not in v, "the scenario file's path"),
              ("started", lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 < v < 1e11,
               "a time in epoch seconds"))
    for key, valid, wanted in checks:
        if key not in data:
            raise InputError(str(path), key, "is required to rebuild the run's result")
        if not valid(data[key]):
            raise InputError(str(path), key, f"must be {wanted}, got {str(data[key])[:60]!r}")
    return data


# Reads a scenario file with every fault kind (`harness.rehearsal.catalogue.load_scenario`):
# the caller passes it, since reporting reads only results and config.
ScenarioLoader = Callable[[Path], Scenario]


def rebuild_result(run_dir: Path, timeline: list[dict[str, Any]], why: str, scenarios: ScenarioLoader) -> Result:
    """A result rebuilt from the timeline and records of a run whose result.json is missing
    or damaged (`why`), its scenario read with `scenarios`. Its outcome is `aborted`:
    nothing in it was judged."""
    meta = run_meta(run_dir)
    try:
        scenario = scenarios(Path(meta["scenario_path"]))
    except HarnessError as exc:
        raise InputError(str(run_dir / "run.json"), "scenario_path", f"cannot rebuild the result: {exc}") from None
    t0 = next((float(e["ts"]) for e in timeline if e["event"] == Event.FAULT_INJECTED), None)
    last = max([float(e["ts"]) for e in timeline] + [float(meta["started"])])
    observed = Observed(
        run_id=meta["run_id"], started_at=float(meta["started"]), finished_at=last, t0=t0, timeline=timeline,
        deploy_log=[], releases={"before": None, "deployed": None, "after": None}, jobs=None,
        outcome=Outcome.ABORTED, reason=f"{why}; these figures come from what the run had recorded",
    )
    return measure(scenario, observed, read_records(run_dir / RECORDS), read_records(run_dir / MATRIX_RECORDS))


# --- the model ----------------------------------------------------------------------


def verdict(result: Result, rebuilt: bool = False, damaged: bool = False) -> tuple[str, str]:
    objectives = result.objectives
    missed = [o for o in objectives if o.met is False]
    outcome = result.outcome
    code_only = result.recovery.code_rollback_recovered is False
    note = " Code rollback alone did not recover; the database step was needed." if code_only else ""
    reason = result.reason or ""
    if rebuilt and damaged:
        return "Rebuilt: the run's result.json is damaged", reason
    if rebuilt:
        return "Incomplete: the run did not finish", reason
    if outcome == Outcome.MET:
        return (f"Every objective met ({len(objectives)} of {len(objectives)})",
                "The rehearsal found no recovery gap." + note)
    if outcome == Outcome.GAPS:
        gaps = result.gaps
        judged = {o.name for o in objectives}
        others = ", ".join(label(g.name) for g in gaps if g.name not in judged)
        said = (f"Missed {len(missed)} of {len(objectives)} objectives: "
                f"{', '.join(label(o.name) for o in missed)}." if missed else
                f"Every objective met ({len(objectives)} of {len(objectives)}).")
        if others:
            said += f" Also found: {others}."
        return (f"{len(gaps)} recovery gap{'s' if len(gaps) != 1 else ''} found", said + note)
    if outcome == Outcome.ABORTED:
        return "Incomplete: the rehearsal was aborted", reason
    return "The rehearsal could not run", reason


def key_rows(result: Result) -> tuple[Row, ...]:
    times, durations, requests, jobs = result.times, result.durations, result.requests, result.jobs

    def row(label: str, name: str, measured: str, note: str = "") -> Row:
        o = result.objective(name)
        if o is None:
            return Row(label, measured, "not set", None, note)
        unit = " s" if name.endswith("_s") else ""
        return Row(label, measured, f"≤ {o.objective:g}{unit}", o.met, note)

    return (
        Row("Time to impact", seconds(times.impact_s), "—", None, "first failed or slow request after the fault"),
        row("Time to detect", "time_to_detect_s", seconds(durations.time_to_detect_s),
            f"first alarm: {result.detection.first_detector or 'none'}"),
        row("Time to roll back", "time_to_rollback_s", seconds(durations.time_to_rollback_s),
            ", ".join(result.recovery.actions) or "no rollback"),
        row("Time to recover", "time_to_recover_s", seconds(durations.time_to_recover_s),
            "until a stable window with every probe green"),
        row("Failed requests", "failed_requests", number(requests.failed_in_incident),
            f"of {requests.total} requests in the run"),
        row("Lost jobs", "lost_jobs", number(jobs.lost) if jobs else "—",
            f"{jobs.enqueued} enqueued, {jobs.duplicated} applied twice" if jobs else "not counted"),
    )


def tiles(result: Result) -> tuple[Tile, ...]:
    def met(name: str) -> bool | None:
        o = result.objective(name)
        return None if o is None else o.met

    d = result.durations
    return (
        Tile("time to detect", seconds(d.time_to_detect_s), met("time_to_detect_s")),
        Tile("time to roll back", seconds(d.time_to_rollback_s), met("time_to_rollback_s")),
        Tile("time to recover", seconds(d.time_to_recover_s), met("time_to_recover_s")),
        Tile("failed requests", number(result.requests.failed_in_incident), met("failed_requests")),
    )


NO_LOAD = "no load: nothing judged"


def phases_and_events(result: Result, timeline: list[dict[str, Any]], t0: float,
                      end: float) -> tuple[list[tuple[str, float, float]], list[tuple[str, float]]]:
    starts = [(str(e["phase"]), float(e["ts"]) - t0) for e in timeline if e["event"] == Event.PHASE_STARTED]
    phases = [(name, s, starts[i + 1][1] if i + 1 < len(starts) else end - t0) for i, (name, s) in enumerate(starts)]
    times = result.times
    events: list[tuple[str, float]] = []
    if result.t0 is not None:
        events.append(("fault injected", 0.0))
    if times.detect_s is not None:
        gate = result.detection.first_detector == "deploy gate"
        events.append(("gate aborted" if gate else "alarm", times.detect_s))
    if times.rollback_started_s is not None:
        events.append(("rollback", times.rollback_started_s))
    if times.rollback_failed_s is not None:
        events.append(("rollback failed", times.rollback_failed_s))
    if times.rollback_done_s is not None:
        events.append(("rollback done", times.rollback_done_s))
    swaps = [step.started_s for step in result.steps if step.name == "swap" and step.started_s is not None]
    if not swaps and times.deployed_serving_s is not None:
        # No step log (a team's own tool): the first answer from the new release marks the swap.
        events.append(("new release serving", times.deployed_serving_s))
    for step in result.steps:
        if step.name == "swap" and step.started_s is not None:
            events.append(("swap", step.started_s))
        if step.name == "db" and step.started_s is not None:
            events.append(("db step", step.started_s))
    if times.recovered_s is not None:
        events.append(("recovered", times.recovered_s))
    lost = [(f"{e['event']}".replace("_", " "), float(e["at"]) - t0) for e in timeline
            if e["event"] in (Event.LOAD_LOST, Event.INSTRUMENT_LOST) and isinstance(e.get("at"), int | float)]
    if lost:
        # No load (or no instrument) from here on: the window no objective was judged on,
        # to the end of the run.
        label, at = lost[0]
        phases.append((NO_LOAD, at, max(end, result.finished_ts) - t0))
        events.append((label, at))
    return phases, events


def load_text(load: LoadSettings) -> str:
    """The load as Locust ran it: who set the users, the User classes, the processes."""
    users = (f"load shape {load.shape} (users and spawn rate did not apply)" if load.shape
             else f"{load.users} users, spawn rate {load.spawn_rate}/s")
    classes = f" ({', '.join(load.user_classes)})" if load.user_classes else ""
    processes = f", {load.workers} worker processes" if load.workers else ""
    remote = f" and {load.remote_workers} on other machines" if load.remote_workers else ""
    return (f"{users}, {load.locustfile}{classes}{processes}{remote}, latency limit {load.latency_limit_ms} ms")


def hygiene_text(hygiene: Hygiene | None) -> str:
    if hygiene is None:
        return "not checked"
    if hygiene.clean:
        return "clean: " + ", ".join(hygiene.checks)
    return "NOT CLEAN: " + "; ".join(hygiene.findings)


def event_value(key: str, value: Any, t0: float) -> str:
    """An event's detail as people read it: an epoch time (`…_ts`) as seconds after t0."""
    if key.endswith("_ts") and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{float(value) - t0:+.2f} s"
    return str(value)


def build_model(run_dir: Path, files: RunFiles | None = None, scenarios: ScenarioLoader | None = None) -> ReportModel:
    """The report's model; a run without a good result.json is rebuilt, its scenario read
    with `scenarios`. Raises InputError when the run cannot be read or rebuilt."""
    files = files or read_run(run_dir)
    found = files.result
    rebuilt = found is None
    why = files.result_problem or "no result.json: the run crashed or was killed before it finished"
    if found is not None:
        result = found
    else:
        try:
            if scenarios is None:
                raise InputError(str(run_dir / "result.json"), None, f"{why}; no scenario reader to rebuild it with")
            result = rebuild_result(run_dir, files.timeline, why, scenarios)
        except InputError as exc:
            if files.result_problem is None:
                raise
            raise InputError(files.result_problem, None, f"and the result cannot be rebuilt: {exc}") from None
    timeline = files.timeline
    records = run_dir / "requests.jsonl"
    span = span_of(records) or (result.started_ts, result.finished_ts)
    t0 = result.t0_ts if result.t0_ts is not None else span[0]
    series = aggregate(records, span[0], span[1])
    phases, events = phases_and_events(result, timeline, t0, span[1])
    chart = build_chart(series.points, series.origin - t0, phases, events)
    headline, subline = verdict(result, rebuilt, files.result_problem is not None)
    releases, env, jobs = result.releases, result.environment, result.jobs
    load = env.load
    details = (
        ("run", result.run_id),
        ("scenario / target", f"{result.scenario} / {result.target}"),
        ("started, finished", f"{result.started_at}, {result.finished_at}"),
        ("release before", releases.before or "—"),
        ("release deployed", releases.deployed or "—"),
        ("release after", releases.after or "—"),
        ("requests served by the deployed release", number(result.requests.served_by_deployed)),
        ("jobs", "not counted" if not jobs else
         f"{jobs.enqueued} enqueued, {jobs.completed} completed, {jobs.lost} lost, "
         f"{jobs.duplicated} applied twice"),
        ("hygiene after the run", hygiene_text(result.hygiene)),
        ("code rollback recovered", {True: "yes", False: "no", None: "—"}[result.recovery.code_rollback_recovered]),
        ("load", "—" if load is None else load_text(load)),
        ("load lost", "—" if result.load_lost is None else
         f"{result.load_lost.cause}" + ("" if result.load_lost.at_s is None else f", at {result.load_lost.at_s:+.2f} s")
         + "; no objective was judged on the window without load"),
        ("gameday", f"{env.gameday_version or '—'} at {env.git_revision or 'unknown revision'}"),
        ("images", ", ".join(f"{k} {v}" for k, v in (env.images or {}).items()) or "—"),
    )
    shown_events = tuple(
        (f"{float(e['ts']) - t0:+.2f} s", str(e["event"]).replace("_", " "),
         # A command's output is shown once, in the Commands table; a schema fingerprint's
         # statements only in the schema round trip.
         ", ".join(f"{k} {event_value(k, v, t0)}" for k, v in e.items() if k not in HIDDEN_EVENT_KEYS))
        for e in timeline
    )
    return ReportModel(
        run_id=result.run_id, scenario=result.scenario, description=result.description or "",
        outcome=result.outcome, headline=headline, subline=subline, what_happened=result.incident.cause,
        complete=result.outcome.finished and not rebuilt, rebuilt=rebuilt, tiles=tiles(result),
        rows=key_rows(result), chart=chart, gaps=result.gaps, steps=result.steps,
        commands=command_runs(timeline, t0), events=shown_events, details=details,
        result_json=json.dumps(result.to_json(), indent=2), plan=result.plan, burst=matrix_burst(timeline),
        rounds=result.rounds, by_mitigation=compare(result.rounds, "mitigation"),
        by_percent=compare(result.rounds, "percent"), drains=result.drains,
        ladder=result.detection.ladder, lint=result.lint, schema_checks=result.schema_checks,
        damage=files.damage,
    )


HIDDEN_EVENT_KEYS = ("ts", "event", "output", "statements")


def matrix_burst(timeline: list[dict[str, Any]]) -> str:
    """How long a matrix cell's burst lasted, from its first recorded window."""
    cell = next((e for e in timeline if e["event"] == Event.MATRIX_CELL_MEASURED), None)
    return "" if cell is None else f"{float(cell['until_ts']) - float(cell['from_ts']):.1f} s"


def render(model: ReportModel) -> str:
    return jenv().get_template("report.html.j2").render(m=model)


REBUILT_REPORT = "report-rebuilt.html"


def write_report(run_dir: Path, strict: bool = True, scenarios: ScenarioLoader | None = None) -> Path:
    """Render the run's report.html from its files; returns its path.

    A damaged result.json never replaces a report made from the good one: its rebuilt
    report goes to `report-rebuilt.html` when report.html exists. With `strict`, a damaged
    file or line raises InputError naming the first (after the report was written: it
    lists them all). `scenarios` reads the scenario of a run to rebuild (`build_model`).
    Raises InputError when the report cannot be written.
    """
    files = read_run(run_dir)
    page = render(build_model(run_dir, files, scenarios))
    path = run_dir / "report.html"
    if files.result_problem is not None and path.exists():
        path = run_dir / REBUILT_REPORT
    try:
        write_text(path, page)
    except OSError as exc:
        raise InputError(str(path), None, f"cannot be written ({exc.strerror or exc})") from None
    if strict and files.damage:
        first = files.damage[0]
        more = f" ({len(files.damage)} damaged in all)" if len(files.damage) > 1 else ""
        raise HarnessError(f"{first}; {path.name} was written from what could be read{more}")
    return path
