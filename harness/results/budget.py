"""The regression budget: an objective also fails when the run is more than `pct` percent
worse than the median of the scenario's last `runs` runs, even while it meets its bound."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from pathlib import Path

from harness.errors import InputError
from harness.results.model import Gap, Outcome, Regression, RegressionBudget, Result, read_result

# Changes smaller than these are noise, whatever their percentage.
NOISE = {"time_to_detect_s": 0.1, "time_to_rollback_s": 0.1, "time_to_recover_s": 0.5, "failed_requests": 5.0}


@dataclass(frozen=True)
class Budget:
    pct: float
    runs: int = 5


def history(reports: Path, scenario: str, before: str, runs: int) -> list[Result]:
    """The scenario's last `runs` finished results in `reports` that started before `before`
    (RFC 3339, as in `Result.started_at`); an unreadable result.json is skipped."""
    found = []
    for path in reports.glob("*/result.json"):
        try:
            result = read_result(path)
        except InputError:
            continue
        if result.scenario == scenario and result.outcome.finished and result.started_at < before:
            found.append(result)
    found.sort(key=lambda r: r.started_at)
    return found[-runs:]


def apply(result: Result, past: list[Result], budget: Budget) -> Result:
    """`result` with the objectives it met failed where it regressed beyond the budget;
    `result` itself when there is no history or the run did not finish."""
    if not past or not result.outcome.finished:
        return result
    objectives, gaps = [], list(result.gaps)
    for objective in result.objectives:
        name, measured = objective.name, objective.measured
        values = [o.measured for r in past for o in r.objectives if o.name == name and o.measured is not None]
        if measured is None or not values or objective.met is not True:
            objectives.append(objective)
            continue
        median = statistics.median(values)
        limit = median * (1 + budget.pct / 100)
        if measured > limit and measured - median > NOISE.get(name, 0.0):
            objective = replace(objective, met=False, regression=Regression(median, len(values), budget.pct))
            gaps.append(Gap(
                name, objective.objective, measured,
                cause=f"{(measured - median) / median * 100 if median else 100:.0f}% worse than the median "
                      f"{median:g} of the last {len(values)} runs (budget {budget.pct:g}%)",
                advice="compare this run's timeline and deploy steps with an earlier run's to find what slowed",
                regression=True,
            ))
        objectives.append(objective)
    outcome = Outcome.GAPS if gaps else result.outcome
    return replace(result, objectives=tuple(objectives), gaps=tuple(gaps), outcome=outcome,
                   regression_budget=RegressionBudget(budget.pct, budget.runs, len(past)))
