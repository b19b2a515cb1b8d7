"""The regression budget: a target also fails when the run is more than `pct` percent worse
than the median of the scenario's last `runs` runs, even while it meets its absolute target."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Changes smaller than these are noise, whatever their percentage.
NOISE = {"time_to_detect_s": 0.1, "time_to_rollback_s": 0.1, "time_to_recover_s": 0.5, "failed_requests": 5.0}


@dataclass(frozen=True)
class Budget:
    pct: float
    runs: int = 5


def history(reports: Path, scenario: str, before: str, runs: int) -> list[dict[str, Any]]:
    """The scenario's last `runs` finished results in `reports` that started before `before`."""
    found = []
    for path in reports.glob("*/result.json"):
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if (result.get("scenario") == scenario and result.get("outcome") in ("met", "gaps")
                and result.get("started_at", "") < before):
            found.append(result)
    found.sort(key=lambda r: r["started_at"])
    return found[-runs:]


def apply(result: dict[str, Any], past: list[dict[str, Any]], budget: Budget) -> dict[str, Any]:
    """A copy of `result` whose targets fail where it regressed beyond the budget."""
    if not past or result["outcome"] not in ("met", "gaps"):
        return result
    targets, gaps = [], list(result["gaps"])
    for target in result["targets"]:
        name, measured = target["name"], target["measured"]
        values = [t["measured"] for r in past for t in r.get("targets", [])
                  if t["name"] == name and t["measured"] is not None]
        if measured is None or not values or target["met"] is not True:
            targets.append(target)
            continue
        median = statistics.median(values)
        limit = median * (1 + budget.pct / 100)
        if measured > limit and measured - median > NOISE.get(name, 0.0):
            target = {**target, "met": False, "regression": {"median": median, "runs": len(values),
                                                              "budget_pct": budget.pct}}
            gaps.append({
                "name": name, "target": target["target"], "measured": measured, "regression": True,
                "cause": f"{(measured - median) / median * 100 if median else 100:.0f}% worse than the median "
                         f"{median:g} of the last {len(values)} runs (budget {budget.pct:g}%)",
                "advice": "compare this run's timeline and deploy steps with an earlier run's to find what slowed",
            })
        targets.append(target)
    outcome = "gaps" if gaps else result["outcome"]
    return {**result, "targets": targets, "gaps": gaps, "outcome": outcome,
            "regression_budget": {"pct": budget.pct, "runs": budget.runs, "history": len(past)}}
