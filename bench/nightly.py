"""The nightly suite's wall time with warm images: `make nightly`, every built-in scenario,
two at a time (NIGHTLY_JOBS=2), with replicas reused (reset between scenarios, the
default) against a fresh replica per scenario (--fresh-replicas), measured in the same run.
The target is 12 minutes (720 s) for the whole catalogue on a 2-core machine.

Usage: python bench/nightly.py [--runs 1] [--jobs 2] [--modes reused fresh]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODES = {"reused": "", "fresh": "--fresh-replicas"}


def nightly(jobs: int, mode: str) -> tuple[float, int, list[str]]:
    """One `make nightly`: wall seconds, exit code, per-scenario lines."""
    with tempfile.TemporaryDirectory() as reports:
        started = time.monotonic()
        argv = ["make", "-s", "-C", str(ROOT), "nightly", f"NIGHTLY_JOBS={jobs}",
                f"NIGHTLY_FLAGS=--quiet --reports {reports} {MODES[mode]}".rstrip()]
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
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--modes", nargs="+", choices=sorted(MODES), default=["reused", "fresh"])
    args = parser.parse_args()
    medians = {}
    for mode in args.modes:
        walls, codes = [], []
        for _ in range(args.runs):
            wall, code, lines = nightly(args.jobs, mode)
            walls.append(wall)
            codes.append(code)
            print("\n".join(lines))
        medians[mode] = statistics.median(walls)
        print(f"make nightly NIGHTLY_JOBS={args.jobs}, replicas {mode} (warm images): median {medians[mode]:.0f} s "
              f"(runs {', '.join(f'{w:.0f}' for w in walls)}), exit codes {codes}; target 720 s")
    if len(medians) == 2:
        print(f"reused against fresh replicas: {medians['fresh'] / medians['reused']:.2f}x faster "
              f"({medians['fresh'] - medians['reused']:.0f} s saved)")


if __name__ == "__main__":
    main()
