"""The nightly suite: every scenario (or a given list), one after the other or a few at a
time, a merged JUnit file, and the trend report. One scenario's failure never stops the
others."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.reporting.trend import write_trend
from harness.results import junit
from harness.results.model import Outcome, Result

EXIT_MET, EXIT_GAPS, EXIT_COULD_NOT_RUN = 0, 1, 2


@dataclass(frozen=True)
class ScenarioRun:
    """One scenario of the night: its result, or why it could not even start."""

    name: str
    result: Result | None
    error: str | None

    @property
    def could_not_run(self) -> bool:
        return self.result is None or not self.result.outcome.finished

    @property
    def missed(self) -> bool:
        return self.result is not None and self.result.outcome == Outcome.GAPS


@dataclass(frozen=True)
class Nightly:
    runs: tuple[ScenarioRun, ...]
    junit: Path
    trend: Path
    skipped: dict[str, str] = field(default_factory=dict)  # scenario: why it was not run (a tool missing)

    @property
    def exit_code(self) -> int:
        if any(r.could_not_run for r in self.runs):
            return EXIT_COULD_NOT_RUN
        if any(r.missed for r in self.runs):
            return EXIT_GAPS
        return EXIT_MET


def run_all(
    names: Sequence[str],
    reports: Path,
    rehearse_one: Callable[[str], Result],
    say: Callable[[str], None],
    jobs: int = 1,
    skipped: dict[str, str] | None = None,
) -> Nightly:
    """Rehearse every scenario, `jobs` at a time (each on its own replica), and merge
    their JUnit in the order given; each of `skipped` (name: why) is a skipped case."""

    def one(name: str) -> ScenarioRun:
        say(f"nightly: {name}")
        try:
            return ScenarioRun(name, rehearse_one(name), None)
        except HarnessError as exc:
            say(f"nightly: {name} could not run: {exc}")
            return ScenarioRun(name, None, str(exc))

    if jobs <= 1:
        runs = [one(name) for name in names]
    else:
        pool = ThreadPoolExecutor(max_workers=jobs)
        try:
            runs = list(pool.map(one, names))
        finally:
            # On an interrupt, return at once: the caller stops the runs still going.
            pool.shutdown(wait=False, cancel_futures=True)
    suites = [junit.testsuite(r.result) if r.result is not None else junit.error_suite(r.name, r.error or "")
              for r in runs]
    suites += [junit.skipped_suite(name, why) for name, why in (skipped or {}).items()]
    merged = reports / "nightly" / "junit.xml"
    merged.parent.mkdir(parents=True, exist_ok=True)
    junit.write(merged, suites)
    return Nightly(tuple(runs), merged, write_trend(reports), dict(skipped or {}))
