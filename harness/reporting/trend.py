"""The quarterly trend report: every run's result.json in a reports directory, grouped by
scenario, as times and objectives over the runs, with regressions against the previous run
and the best one. One self-contained page, reports/trend.html."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.reporting.report import jenv
from harness.results.budget import NOISE
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


def read_run(path: Path) -> TrendRun | None:
    """One run's figures, or None when its result.json cannot be read."""
    try:
        result = read_result(path)
        started = datetime.fromtimestamp(result.started_ts).astimezone()
    except (InputError, ValueError, OverflowError, OSError):  # unreadable, or a timestamp out of range
        return None
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


def collect(reports: Path, since: datetime | None, scenario: str | None) -> dict[str, list[TrendRun]]:
    if not reports.is_dir():
        raise InputError(str(reports), None, "no such reports directory")
    grouped: dict[str, list[TrendRun]] = {}
    for path in sorted(reports.glob("*/result.json")):
        run = read_run(path)
        if run is None or not run.outcome.finished:
            continue
        if scenario and run.scenario != scenario:
            continue
        if since and run.started < since:
            continue
        grouped.setdefault(run.scenario, []).append(run)
    for runs in grouped.values():
        runs.sort(key=lambda r: r.started)
    return grouped


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


def build(reports: Path, since: datetime | None, scenario: str | None) -> list[ScenarioTrend]:
    return [
        ScenarioTrend(name, tuple(runs), sparks(runs), compare(runs))
        for name, runs in sorted(collect(reports, since, scenario).items())
    ]


def write_trend(reports: Path, since: datetime | None = None, scenario: str | None = None) -> Path:
    trends = build(reports, since, scenario)
    context: dict[str, Any] = {
        "trends": trends,
        "since": since.date().isoformat() if since else None,
        "scenario": scenario,
        "runs": sum(len(t.runs) for t in trends),
        "regressed": [t.name for t in trends if t.regressed],
        "w": SPARK_W, "h": SPARK_H,
    }
    path = reports / "trend.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(jenv().get_template("trend.html.j2").render(**context))
    tmp.replace(path)
    return path
