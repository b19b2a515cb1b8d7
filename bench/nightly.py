"""The nightly suite's wall time with warm images: `make nightly`, every built-in scenario,
one at a time against NIGHTLY_JOBS=2 (two scenarios at a time, each on its own replica),
measured in the same run.

Usage: python bench/nightly.py [--runs 1] [--jobs 1 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def nightly(jobs: int) -> tuple[float, int, list[str]]:
    """One `make nightly` with NIGHTLY_JOBS=jobs: wall seconds, exit code, per-scenario lines."""
    with tempfile.TemporaryDirectory() as reports:
        started = time.monotonic()
        argv = ["make", "-s", "-C", str(ROOT), "nightly", f"NIGHTLY_JOBS={jobs}",
                f"NIGHTLY_FLAGS=--quiet --reports {reports}"]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        wall = time.monotonic() - started
    lines = [line for line in proc.stdout.strip().splitlines()
             if line.startswith("  ") and len(line.split()) == 2 or line.startswith("nightly:")]
    if proc.returncode == 2:
        lines.append(proc.stderr[-2000:])
    return wall, proc.returncode, lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    medians = {}
    for jobs in args.jobs:
        walls, codes = [], []
        for _ in range(args.runs):
            wall, code, lines = nightly(jobs)
            walls.append(wall)
            codes.append(code)
            print("\n".join(lines))
        medians[jobs] = statistics.median(walls)
        print(f"make nightly NIGHTLY_JOBS={jobs} (warm images): median {medians[jobs]:.0f} s "
              f"(runs {', '.join(f'{w:.0f}' for w in walls)}), exit codes {codes}")
    if 1 in medians and len(medians) > 1:
        for jobs, wall in medians.items():
            if jobs != 1:
                print(f"NIGHTLY_JOBS={jobs} against one at a time: {medians[1] / wall:.2f}x faster")


if __name__ == "__main__":
    main()
