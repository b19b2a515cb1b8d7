"""The HTML report of one run: a model built from the run's files, rendered with Jinja2 into
one self-contained page (inline CSS and SVG, no script) that opens from file:// or a CI
artifact. A run that crashed still gets a report from whatever it wrote, marked incomplete."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from harness.config.scenario import load_scenario
from harness.errors import HarnessError, InputError
from harness.reporting.buckets import aggregate, span_of
from harness.reporting.chart import Chart, build_chart
from harness.results.measure import Observed, measure, parse_ts
from harness.results.records import read_records
from harness.results.timeline import read_jsonl

TEMPLATES = Path(__file__).parent / "templates"
INCOMPLETE_OUTCOMES = ("aborted", "error", "incomplete")


@dataclass(frozen=True)
class Row:
    label: str
    measured: str
    target: str
    met: bool | None
    note: str = ""


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    met: bool | None


@dataclass(frozen=True)
class ReportModel:
    run_id: str
    scenario: str
    description: str
    outcome: str
    headline: str
    subline: str
    complete: bool
    tiles: tuple[Tile, ...]
    rows: tuple[Row, ...]
    chart: Chart
    gaps: tuple[dict[str, Any], ...]
    steps: tuple[dict[str, Any], ...]
    events: tuple[tuple[str, str, str], ...]
    details: tuple[tuple[str, str], ...]
    result_json: str


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
    return env


# --- reading a run ------------------------------------------------------------------


def read_result(run_dir: Path) -> dict[str, Any]:
    """result.json, or one rebuilt from the timeline and records of a run that never wrote it."""
    path = run_dir / "result.json"
    if path.exists():
        try:
            return dict(json.loads(path.read_text()))
        except ValueError:
            pass
    return rebuild_result(run_dir)


def rebuild_result(run_dir: Path) -> dict[str, Any]:
    meta_path = run_dir / "run.json"
    if not meta_path.exists():
        raise InputError(str(run_dir), None, "is not a gameday run directory (no result.json or run.json)")
    meta = json.loads(meta_path.read_text())
    try:
        scenario = load_scenario(Path(meta["scenario_path"]))
    except HarnessError as exc:
        raise InputError(str(run_dir), None, f"cannot rebuild its result: {exc}") from exc
    timeline = list(read_jsonl(run_dir / "timeline.jsonl"))
    t0 = next((float(e["ts"]) for e in timeline if e["event"] == "fault_injected"), None)
    last = max([float(e["ts"]) for e in timeline] + [float(meta["started"])])
    observed = Observed(
        run_id=meta["run_id"], started_at=float(meta["started"]), finished_at=last, t0=t0, timeline=timeline,
        deploy_log=[], releases={"before": None, "deployed": None, "after": None}, jobs=None,
        outcome="incomplete", reason="no result.json: the run crashed or was killed before it finished; "
        "these figures come from what it had written",
    )
    return measure(scenario, observed, read_records(run_dir / "requests.jsonl"))


# --- the model ----------------------------------------------------------------------


def verdict(result: dict[str, Any]) -> tuple[str, str]:
    targets = result.get("targets") or []
    missed = [t for t in targets if t["met"] is False]
    outcome = result["outcome"]
    code_only = (result.get("recovery") or {}).get("code_rollback_recovered") is False
    note = " Code rollback alone did not recover; the database step was needed." if code_only else ""
    if outcome == "met":
        return f"Every target met ({len(targets)} of {len(targets)})", "The rehearsal found no recovery gap." + note
    if outcome == "gaps":
        gaps = result.get("gaps") or []
        names = ", ".join(label(g["name"]) for g in gaps)
        return (f"{len(gaps)} recovery gap{'s' if len(gaps) != 1 else ''} found",
                f"Missed {len(missed)} of {len(targets)} targets: {names}." + note)
    if outcome == "aborted":
        return "Incomplete: the rehearsal was aborted", str(result.get("reason") or "")
    if outcome == "incomplete":
        return "Incomplete: the run did not finish", str(result.get("reason") or "")
    return "The rehearsal could not run", str(result.get("reason") or "")


def key_rows(result: dict[str, Any]) -> tuple[Row, ...]:
    targets = {t["name"]: t for t in result.get("targets") or []}
    times, durations = result["times"], result["durations"]
    requests, jobs = result["requests"], result.get("jobs") or {}

    def row(label: str, name: str, measured: str, note: str = "") -> Row:
        t = targets.get(name)
        if t is None:
            return Row(label, measured, "not set", None, note)
        unit = " s" if name.endswith("_s") else ""
        return Row(label, measured, f"≤ {t['target']:g}{unit}", t["met"], note)

    return (
        Row("Time to impact", seconds(times["impact_s"]), "—", None, "first failed or slow request after the fault"),
        row("Time to detect", "time_to_detect_s", seconds(durations["time_to_detect_s"]),
            f"first alarm: {result.get('detection', {}).get('first_detector') or 'none'}"),
        row("Time to roll back", "time_to_rollback_s", seconds(durations["time_to_rollback_s"]),
            ", ".join(result.get("recovery", {}).get("actions") or []) or "no rollback"),
        row("Time to recover", "time_to_recover_s", seconds(durations["time_to_recover_s"]),
            "until a stable window with every probe green"),
        row("Failed requests", "failed_requests", number(requests.get("failed_in_incident")),
            f"of {requests.get('total')} requests in the run"),
        row("Lost jobs", "lost_jobs", number(jobs.get("lost")) if jobs else "—",
            f"{jobs.get('enqueued')} enqueued, {jobs.get('duplicated')} applied twice" if jobs else "not counted"),
    )


def tiles(result: dict[str, Any]) -> tuple[Tile, ...]:
    met = {t["name"]: t["met"] for t in result.get("targets") or []}
    d = result["durations"]
    return (
        Tile("time to detect", seconds(d["time_to_detect_s"]), met.get("time_to_detect_s")),
        Tile("time to roll back", seconds(d["time_to_rollback_s"]), met.get("time_to_rollback_s")),
        Tile("time to recover", seconds(d["time_to_recover_s"]), met.get("time_to_recover_s")),
        Tile("failed requests", number(result["requests"].get("failed_in_incident")), met.get("failed_requests")),
    )


def phases_and_events(result: dict[str, Any], timeline: list[dict[str, Any]], t0: float,
                      end: float) -> tuple[list[tuple[str, float, float]], list[tuple[str, float]]]:
    starts = [(str(e["phase"]), float(e["ts"]) - t0) for e in timeline if e["event"] == "phase_started"]
    phases = [(name, s, starts[i + 1][1] if i + 1 < len(starts) else end - t0) for i, (name, s) in enumerate(starts)]
    times = result["times"]
    events: list[tuple[str, float]] = []
    if result.get("t0") is not None:
        events.append(("fault injected", 0.0))
    if times.get("detect_s") is not None:
        gate = (result.get("detection") or {}).get("first_detector") == "deploy gate"
        events.append(("gate aborted" if gate else "alarm", times["detect_s"]))
    if times.get("rollback_started_s") is not None:
        events.append(("rollback", times["rollback_started_s"]))
    if times.get("rollback_done_s") is not None:
        events.append(("rollback done", times["rollback_done_s"]))
    for step in result.get("steps") or []:
        if step["name"] == "swap" and step.get("started_s") is not None:
            events.append(("swap", step["started_s"]))
        if step["name"] == "db" and step.get("started_s") is not None:
            events.append(("db step", step["started_s"]))
    if times.get("recovered_s") is not None:
        events.append(("recovered", times["recovered_s"]))
    return phases, events


def hygiene_text(hygiene: dict[str, Any] | None) -> str:
    if hygiene is None:
        return "not checked"
    if hygiene["clean"]:
        return "clean: " + ", ".join(hygiene["checks"])
    return "NOT CLEAN: " + "; ".join(hygiene["findings"])


def build_model(run_dir: Path) -> ReportModel:
    result = read_result(run_dir)
    timeline = list(read_jsonl(run_dir / "timeline.jsonl"))
    records = run_dir / "requests.jsonl"
    started, finished = parse_ts(result["started_at"]), parse_ts(result["finished_at"])
    span = span_of(records) or (started, finished)
    t0 = parse_ts(result["t0"]) if result.get("t0") else span[0]
    series = aggregate(records, span[0], span[1])
    phases, events = phases_and_events(result, timeline, t0, span[1])
    chart = build_chart(series.points, series.origin - t0, phases, events)
    headline, subline = verdict(result)
    releases, env = result.get("releases") or {}, result.get("environment") or {}
    jobs = result.get("jobs")
    load = env.get("load") or {}
    details = (
        ("run", result["run_id"]),
        ("scenario / target", f"{result['scenario']} / {result['target']}"),
        ("started, finished", f"{result['started_at']}, {result['finished_at']}"),
        ("release before", str(releases.get("before") or "—")),
        ("release deployed", str(releases.get("deployed") or "—")),
        ("release after", str(releases.get("after") or "—")),
        ("requests served by the deployed release", number(result["requests"].get("served_by_deployed"))),
        ("jobs", "not counted" if not jobs else
         f"{jobs['enqueued']} enqueued, {jobs['completed']} completed, {jobs['lost']} lost, "
         f"{jobs['duplicated']} applied twice"),
        ("hygiene after the run", hygiene_text(result.get("hygiene"))),
        ("code rollback recovered", {True: "yes", False: "no", None: "—"}[
            (result.get("recovery") or {}).get("code_rollback_recovered")]),
        ("load", f"{load.get('users', '—')} users, spawn rate {load.get('spawn_rate', '—')}/s, "
                 f"{load.get('locustfile', '—')}, latency limit {load.get('latency_limit_ms', '—')} ms"),
        ("gameday", f"{env.get('gameday_version', '—')} at {env.get('git_revision') or 'unknown revision'}"),
        ("images", ", ".join(f"{k} {v}" for k, v in (env.get("images") or {}).items()) or "—"),
    )
    shown_events = tuple(
        (f"{float(e['ts']) - t0:+.2f} s", str(e["event"]).replace("_", " "),
         ", ".join(f"{k} {v}" for k, v in e.items() if k not in ("ts", "event")))
        for e in timeline
    )
    return ReportModel(
        run_id=result["run_id"], scenario=result["scenario"], description=result.get("description") or "",
        outcome=result["outcome"], headline=headline, subline=subline,
        complete=result["outcome"] not in INCOMPLETE_OUTCOMES, tiles=tiles(result), rows=key_rows(result),
        chart=chart, gaps=tuple(result.get("gaps") or []), steps=tuple(result.get("steps") or []),
        events=shown_events, details=details, result_json=json.dumps(result, indent=2),
    )


def render(model: ReportModel) -> str:
    return jenv().get_template("report.html.j2").render(m=model)


def write_report(run_dir: Path) -> Path:
    if not run_dir.is_dir():
        raise InputError(str(run_dir), None, "no such run directory")
    path = run_dir / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render(build_model(run_dir)))
    tmp.replace(path)
    return path
