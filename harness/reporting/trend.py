"""The quarterly trend report: every run's result.json in a reports directory, grouped by
scenario, as times and objectives over the runs, with regressions against the previous run
and the best one. One self-contained page, reports/trend.html."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, InputError
from harness.reporting.report import jenv
from harness.results.budget import NOISE
from harness.results.files import write_text
from harness.results.model import Outcome, read_result

METRICS = (
    ("time_to_detect_s", "time to detect", "s"),
    ("time_to_rollback_s", "time to roll back", "s"),
    ("time_to_recover_s", "time to recover", "s"),
    ("failed_requests", "failed requests", ""),
)
# A change smaller than this (in the metric's unit) is noise, whatever its percentage.
REGRESSION_PCT = 10.0
SPARK_W, SPARK_H = 220, 44


@dataclass(frozen=True)
class TrendRun:
    run_id: str
    scenario: str
    started: datetime
    outcome: Outcome
    values: dict[str, float | None]
    met: dict[str, bool]
    objectives_met: int
    objectives_total: int


@dataclass(frozen=True)
class Comparison:
    metric: str
    label: str
    latest: float | None
    previous: float | None
    best: float | None
    vs_previous: str
    vs_best: str
    regressed: bool


@dataclass(frozen=True)
class Spark:
    label: str
    points: str
    dots: tuple[tuple[float, float, bool | None], ...]
    latest: str


@dataclass(frozen=True)
class ScenarioTrend:
    name: str
    runs: tuple[TrendRun, ...]
    sparks: tuple[Spark, ...]
    comparisons: tuple[Comparison, ...]

    @property
    def regressed(self) -> bool:
        return any(c.regressed for c in self.comparisons)


def read_run(path: Path) -> TrendRun:
    """One run's figures. Raises InputError naming the file (and key) when its result.json
    cannot be read."""
    result = read_result(path)
    try:
        started = datetime.fromtimestamp(result.started_ts).astimezone()
    except (ValueError, OverflowError, OSError):
        raise InputError(str(path), "started_at", f"{result.started_at!r} is out of range") from None
    measured: dict[str, float | None] = {
        **result.durations.to_json(),
        "failed_requests": result.requests.failed_in_incident,
    }
    met = {o.name: o.met for o in result.objectives if o.met is not None}
    return TrendRun(
        run_id=result.run_id, scenario=result.scenario, started=started, outcome=result.outcome,
        values={k: measured.get(k) for k, _, _ in METRICS}, met=met,
        objectives_met=sum(met.values()), objectives_total=len(met),
    )


@dataclass(frozen=True)
class Collected:
    """The finished runs by scenario, and each run directory left out, with why."""

    runs: dict[str, list[TrendRun]]
    skipped: tuple[str, ...]


def collect(reports: Path, since: datetime | None, scenario: str | None) -> Collected:
    """Every finished run in `reports`, each run id once (a copied run directory is the same
    run); a result.json that cannot be read is left out and named in `skipped`."""
    if not reports.is_dir():
        raise InputError(str(reports), None, "no such reports directory")
    grouped: dict[str, list[TrendRun]] = {}
    skipped: list[str] = []
    seen: dict[str, Path] = {}
    for path in sorted(reports.glob("*/result.json")):
        try:
            run = read_run(path)
        except InputError as exc:
            skipped.append(str(exc))
            continue
        if run.run_id in seen:
            skipped.append(f"{path}: run {run.run_id} again (counted once, from {seen[run.run_id]})")
            continue
        seen[run.run_id] = path
        if not run.outcome.finished:
            continue
        if scenario and run.scenario != scenario:
            continue
        if since and run.started < since:
            continue
        grouped.setdefault(run.scenario, []).append(run)
    for runs in grouped.values():
        runs.sort(key=lambda r: r.started)
    return Collected(grouped, tuple(skipped))


def change(latest: float | None, other: float | None, metric: str) -> tuple[str, bool]:
    if latest is None or other is None:
        return "—", False
    delta = latest - other
    pct = (delta / other * 100) if other else (0.0 if delta == 0 else float("inf"))
    regressed = delta > NOISE[metric] and pct > REGRESSION_PCT
    text = f"{delta:+.2f} ({pct:+.0f}%)" if pct != float("inf") else f"{delta:+.2f}"
    return text, regressed


def compare(runs: list[TrendRun]) -> tuple[Comparison, ...]:
    latest = runs[-1]
    earlier = runs[:-1]
    found = []
    for metric, label, _ in METRICS:
        value = latest.values.get(metric)
        previous = earlier[-1].values.get(metric) if earlier else None
        history = [r.values[metric] for r in earlier if r.values.get(metric) is not None]
        best = min(history) if history else None  # type: ignore[type-var]
        vs_prev, reg_prev = change(value, previous, metric)
        vs_best, reg_best = change(value, best, metric)
        found.append(Comparison(metric, label, value, previous, best, vs_prev, vs_best, reg_prev or reg_best))
    return tuple(found)


def sparks(runs: list[TrendRun]) -> tuple[Spark, ...]:
    found = []
    for metric, label, unit in METRICS:
        values = [r.values.get(metric) for r in runs]
        present = [v for v in values if v is not None]
        top = max(present, default=1.0) or 1.0
        step = SPARK_W / max(len(runs) - 1, 1)
        dots = tuple(
            (round(i * step, 1), round(SPARK_H - 4 - (v / top) * (SPARK_H - 8), 1), runs[i].met.get(metric))
            for i, v in enumerate(values) if v is not None
        )
        latest = "—" if values[-1] is None else f"{values[-1]:g}{unit}"
        found.append(Spark(label, " ".join(f"{x},{y}" for x, y, _ in dots), dots, latest))
    return tuple(found)


def build(collected: Collected) -> list[ScenarioTrend]:
    return [
        ScenarioTrend(name, tuple(runs), sparks(runs), compare(runs))
        for name, runs in sorted(collected.runs.items())
    ]


def write_trend(reports: Path, since: datetime | None = None, scenario: str | None = None,
                strict: bool = False) -> Path:
    """Render `reports/trend.html`; returns its path. With `strict`, runs left out (a damaged
    result.json, a copy of a run) raise InputError naming the first, after the page, which
    lists them all, is written. Raises InputError when it cannot be written."""
    collected = collect(reports, since, scenario)
    trends = build(collected)
    context: dict[str, Any] = {
        "trends": trends,
        "since": since.date().isoformat() if since else None,
        "scenario": scenario,
        "runs": sum(len(t.runs) for t in trends),
        "regressed": [t.name for t in trends if t.regressed],
        "skipped": collected.skipped,
        "w": SPARK_W, "h": SPARK_H,
    }
    path = reports / "trend.html"
    try:
        write_text(path, jenv().get_template("trend.html.j2").render(**context))
    except OSError as exc:
        raise InputError(str(path), None, f"cannot be written ({exc.strerror or exc})") from None
    if strict and collected.skipped:
        more = f" ({len(collected.skipped)} left out in all)" if len(collected.skipped) > 1 else ""
        raise HarnessError(f"{collected.skipped[0]}; left out of {path.name}{more}")
    return path
