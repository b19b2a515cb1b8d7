"""From the first alarm to the rollback command starting, on the unbootable-release
scenario (gate off: the deploy is still running its verify step when the alarm comes).

Each run is a whole `gameday run`; the two instants are the rehearsal's own timeline
events (`alarm_raised`, `rollback_started`), taken by one clock. Quiet and loaded runs
alternate in one invocation: a loaded run has --busy processes (default 2, one a core
here) spinning for its whole length. Prints each run and the median of --runs of each
(default 5). The goal is under 0.2 s, loaded.

Usage: python bench/alarm_to_rollback.py [--runs 5] [--busy 2] [--scenario unbootable-release]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SPIN = "while True: pass"


@contextmanager
def busy(count: int) -> Iterator[None]:
    """`count` processes spinning on the CPU for the body; stopped by their pids."""
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def events(run_dir: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (run_dir / "timeline.jsonl").read_text().splitlines()]


def one_run(scenario: str, reports: Path) -> tuple[float, float, str]:
    subprocess.run([sys.executable, "-m", "harness", "run", scenario, "--quiet", "--reports", str(reports)],
                   capture_output=True, check=False)
    run_dir = max(p for p in reports.iterdir() if p.is_dir())
    timeline = events(run_dir)
    t0 = next(float(str(e["ts"])) for e in timeline if e["event"] == "fault_injected")
    alarm = min(float(str(e["ts"])) for e in timeline if e["event"] == "alarm_raised" and float(str(e["ts"])) >= t0)
    rollback = next(float(str(e["ts"])) for e in timeline if e["event"] == "rollback_started")
    outcome = json.loads((run_dir / "result.json").read_text())["outcome"]
    return alarm - t0, rollback - alarm, outcome


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--busy", type=int, default=2, help="busy processes in a loaded run (0: quiet runs only)")
    parser.add_argument("--scenario", default="unbootable-release")
    args = parser.parse_args()
    gaps: dict[str, list[float]] = {"quiet": [], "loaded": []}
    with tempfile.TemporaryDirectory(prefix="gameday-bench-") as tmp:
        for index in range(args.runs):
            for how in ("quiet", "loaded") if args.busy else ("quiet",):
                with busy(args.busy if how == "loaded" else 0):
                    detect, gap, outcome = one_run(args.scenario, Path(tmp) / f"{how}-{index}")
                gaps[how].append(gap)
                print(f"run {index + 1} ({how}): first alarm {detect:.3f}s after t0, rollback started {gap:.3f}s "
                      f"after it ({outcome})", flush=True)
    for how, found in gaps.items():
        if found:
            print(f"first alarm -> rollback command starting, {how}, median of {len(found)}: "
                  f"{statistics.median(found):.3f}s (min {min(found):.3f}, max {max(found):.3f})")


if __name__ == "__main__":
    main()
