"""Every built-in scenario, warm, through `make gameday SCENARIO=…`: wall time and the
measured times (time to detect, roll back, recover), median of --runs each.

Usage: python bench/scenarios.py [--runs 3] [NAME ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

from harness.rehearsal.catalogue import scenario_files

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("time_to_detect_s", "time_to_rollback_s", "time_to_recover_s")


def median(values: list[float | None]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "—"
    suffix = "" if len(present) == len(values) else f" ({len(values) - len(present)} null)"
    return f"{statistics.median(present):.2f}s{suffix}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    names = args.names or [p.stem for p in scenario_files()]
    reports = ROOT / "reports"
    for name in names:
        walls: list[float] = []
        measured: dict[str, list[float | None]] = {k: [] for k in KEYS}
        outcomes = []
        for _ in range(args.runs):
            before = set(reports.glob("*")) if reports.exists() else set()
            started = time.monotonic()
            subprocess.run(["make", "-s", "-C", str(ROOT), "gameday", f"SCENARIO={name}"], capture_output=True,
                           check=False)
            walls.append(time.monotonic() - started)
            run_dir = max(set(reports.glob(f"*-{name}")) - before)
            result = json.loads((run_dir / "result.json").read_text())
            outcomes.append(result["outcome"])
            for key in KEYS:
                measured[key].append(result["durations"][key])
        print(f"{name:<30} wall {statistics.median(walls):5.1f}s  detect {median(measured['time_to_detect_s'])}  "
              f"roll back {median(measured['time_to_rollback_s'])}  recover {median(measured['time_to_recover_s'])}  "
              f"outcomes {','.join(outcomes)}", flush=True)


if __name__ == "__main__":
    main()
