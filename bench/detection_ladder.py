"""The detection ladder's times: `gameday run detection-ladder` RUNS times (default 3),
warm images, and each detector's median time to detect (first failed request to its
first alarm): the error rate on the request stream, the log alert on the proxy's JSON
access log, the health poller at 1 s and the uptime monitor at 60 s.

Usage: python bench/detection_ladder.py [RUNS]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.config.target import find_target
from harness.environment.images import DEFAULT_BASE_IMAGE, ensure_images
from harness.environment.replica import Staging, connect

GAMEDAY = str(Path(sys.executable).parent / "gameday")


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    staging = Staging(connect(), say=lambda m: print(f"gameday: {m}", file=sys.stderr))
    ensure_images(staging.client, find_target("shop"), DEFAULT_BASE_IMAGE, staging.say)
    seen: dict[str, list[float | None]] = {}
    with tempfile.TemporaryDirectory(prefix="gameday-bench-") as scratch:
        for n in range(runs):
            reports = Path(scratch) / f"run{n}"
            proc = subprocess.run([GAMEDAY, "run", "detection-ladder", "--reports", str(reports), "--quiet"],
                                  capture_output=True, text=True, check=False)
            if proc.returncode not in (0, 1):
                raise SystemExit(f"gameday run exited {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}")
            (run_dir,) = reports.iterdir()
            ladder = json.loads((run_dir / "result.json").read_text())["detection"]["ladder"]
            print(f"run {n + 1}: " + ", ".join(f"{r['detector']} {r['time_to_detect_s']}" for r in ladder))
            for rung in ladder:
                seen.setdefault(rung["detector"], []).append(rung["time_to_detect_s"])
    medians = {name: statistics.median(v for v in times if v is not None) if any(v is not None for v in times)
               else None for name, times in seen.items()}
    print(f"detection ladder, median time to detect of {runs} runs:")
    for rank, (name, median) in enumerate(sorted(medians.items(), key=lambda kv: (kv[1] is None, kv[1] or 0)), 1):
        shown = "never" if median is None else f"{median:.2f} s"
        print(f"  {rank}. {name:<11} {shown:>9}  ({', '.join(str(v) for v in seen[name])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
