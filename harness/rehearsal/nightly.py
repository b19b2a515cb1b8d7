"""The nightly suite: every scenario (or a given list) one after the other, a merged JUnit
file, and the trend report. One scenario's failure never stops the others."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.reporting.trend import write_trend
from harness.results import junit

EXIT_MET, EXIT_GAPS, EXIT_COULD_NOT_RUN = 0, 1, 2


@dataclass(frozen=True)
class Outcome:
    name: str
    result: dict[str, Any] | None
    error: str | None

    @property
    def could_not_run(self) -> bool:
        return self.result is None or self.result["outcome"] not in ("met", "gaps")

    @property
    def missed(self) -> bool:
        return self.result is not None and self.result["outcome"] == "gaps"


@dataclass(frozen=True)
class Nightly:
    outcomes: tuple[Outcome, ...]
    junit: Path
    trend: Path

    @property
    def exit_code(self) -> int:
        if any(o.could_not_run for o in self.outcomes):
            return EXIT_COULD_NOT_RUN
        if any(o.missed for o in self.outcomes):
            return EXIT_GAPS
        return EXIT_MET


def run_all(
    names: Sequence[str],
    reports: Path,
    rehearse_one: Callable[[str], dict[str, Any]],
    say: Callable[[str], None],
) -> Nightly:
    outcomes = []
    for name in names:
        say(f"nightly: {name}")
        try:
            outcomes.append(Outcome(name, rehearse_one(name), None))
        except HarnessError as exc:
            say(f"nightly: {name} could not run: {exc}")
            outcomes.append(Outcome(name, None, str(exc)))
    suites = [junit.testsuite(o.result) if o.result is not None else junit.error_suite(o.name, o.error or "")
              for o in outcomes]
    merged = reports / "nightly" / "junit.xml"
    merged.parent.mkdir(parents=True, exist_ok=True)
    junit.write(merged, suites)
    return Nightly(tuple(outcomes), merged, write_trend(reports))
