"""Runs started at the same moment, as CI jobs on one runner start: N `gameday run
clean-deploy` processes, each with its own --reports, against one alone, measured in the
same session with warm images. Prints each round's outcomes and the median wall times.
Every run must get its own replica and result (run ids are claimed machine-wide); whether
all are MET on a busy 2-core machine is what this measures.

Usage: python bench/concurrent_runs.py [--runs 3] [--at-once 4] [--scenario clean-deploy]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GAMEDAY = [sys.executable, "-m", "harness"]


def round_of(count: int, scenario: str) -> tuple[float, list[str]]:
    """`count` runs started together: the wall seconds until the last ends, and each outcome."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        procs = [subprocess.Popen([*GAMEDAY, "run", scenario, "--quiet", "--reports", f"{tmp}/job-{n}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for n in range(count)]
        errors = [proc.communicate()[1] for proc in procs]
        wall = time.monotonic() - started
        outcomes = []
        for n, err in enumerate(errors):
            results = list(Path(tmp, f"job-{n}").glob("*/result.json"))
            outcomes.append(json.loads(results[0].read_text())["outcome"] if results else
                            f"no result ({err.strip().splitlines()[-1] if err.strip() else 'no output'})")
    return wall, outcomes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--at-once", type=int, default=4)
    parser.add_argument("--scenario", default="clean-deploy")
    args = parser.parse_args()
    round_of(1, args.scenario)  # warm-up: images built, caches filled
    alone, together, met, total = [], [], 0, 0
    for n in range(args.runs):
        wall, outcomes = round_of(1, args.scenario)
        alone.append(wall)
        print(f"round {n + 1}: one alone {wall:.1f} s {outcomes}")
        wall, outcomes = round_of(args.at_once, args.scenario)
        together.append(wall)
        met += outcomes.count("met")
        total += len(outcomes)
        print(f"round {n + 1}: {args.at_once} at once {wall:.1f} s {outcomes}")
    one, many = statistics.median(alone), statistics.median(together)
    print(f"{args.scenario}: one alone median {one:.1f} s; {args.at_once} at once median {many:.1f} s "
          f"({many / one:.2f}x one run's wall time for {args.at_once} runs); {met} of {total} concurrent runs MET")


if __name__ == "__main__":
    main()
