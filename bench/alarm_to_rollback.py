"""From the first alarm to the rollback command starting, on the unbootable-release
scenario (gate off: the deploy is still running its verify step when the alarm comes).

Each run is a whole `gameday run`; the two instants are the rehearsal's own timeline
events (`alarm_raised`, `rollback_started`), taken by one clock. Prints each run and the
median of --runs (default 5). The goal is under 0.2 s.

Usage: python bench/alarm_to_rollback.py [--runs 5] [--scenario unbootable-release]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


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
    parser.add_argument("--scenario", default="unbootable-release")
    args = parser.parse_args()
    gaps = []
    with tempfile.TemporaryDirectory(prefix="gameday-bench-") as tmp:
        for index in range(args.runs):
            detect, gap, outcome = one_run(args.scenario, Path(tmp) / str(index))
            gaps.append(gap)
            print(f"run {index + 1}: first alarm {detect:.3f}s after t0, rollback started {gap:.3f}s after it "
                  f"({outcome})", flush=True)
    print(f"first alarm -> rollback command starting, median of {len(gaps)}: {statistics.median(gaps):.3f}s "
          f"(min {min(gaps):.3f}, max {max(gaps):.3f})")


if __name__ == "__main__":
    main()
