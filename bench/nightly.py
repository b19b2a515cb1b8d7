"""The nightly suite's wall time with warm images: `make nightly`, every built-in scenario.

Usage: python bench/nightly.py [--runs 1]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    walls, codes = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as reports:
            started = time.monotonic()
            argv = ["make", "-s", "-C", str(ROOT), "nightly", f"NIGHTLY_FLAGS=--quiet --reports {reports}"]
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
            walls.append(time.monotonic() - started)
            codes.append(proc.returncode)
            lines = proc.stdout.strip().splitlines()
            print("\n".join(line for line in lines if line.startswith("  ") and len(line.split()) == 2
                            or line.startswith("nightly:")))
            if proc.returncode == 2:
                print(proc.stderr[-2000:])
    print(f"make nightly (5 scenarios, warm images): median {statistics.median(walls):.0f} s "
          f"(runs {', '.join(f'{w:.0f}' for w in walls)}), exit codes {codes}")


if __name__ == "__main__":
    main()
