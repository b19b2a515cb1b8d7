"""The full expand-and-contract rehearsal with its compatibility matrix
(`gameday run expand-contract`, as a user types it), wall time with warm images: the
median of RUNS runs (default 3), and where the time goes (rollout, matrix) in each.
The goal is under 4 minutes on a 2-core machine.

Usage: python bench/expand_contract.py [RUNS]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.config.target import find_target
from harness.environment.images import DEFAULT_BASE_IMAGE, ensure_images
from harness.environment.replica import Staging, connect

GAMEDAY = str(Path(sys.executable).parent / "gameday")
GOAL_S = 240.0


def phase_starts(run_dir: Path) -> dict[str, float]:
    events = [json.loads(line) for line in (run_dir / "timeline.jsonl").read_text().splitlines()]
    starts = {str(e["phase"]): float(e["ts"]) for e in events if e["event"] == "phase_started"}
    cells = [float(e["ts"]) for e in events if e["event"] in ("schema_state_restored", "matrix_cell_measured")]
    return {"rollout": starts["verify"] - starts["rollout"],
            "matrix": (max(cells) - starts["drain"]) if cells else 0.0}


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    staging = Staging(connect(), say=lambda m: print(f"gameday: {m}", file=sys.stderr))
    ensure_images(staging.client, find_target("shop"), DEFAULT_BASE_IMAGE, staging.say)
    walls = []
    with tempfile.TemporaryDirectory(prefix="gameday-bench-") as scratch:
        for n in range(runs):
            reports = Path(scratch) / f"run{n}"
            started = time.monotonic()
            proc = subprocess.run([GAMEDAY, "run", "expand-contract", "--reports", str(reports), "--quiet"],
                                  capture_output=True, text=True, check=False)
            wall = time.monotonic() - started
            if proc.returncode != 0:
                raise SystemExit(f"gameday run exited {proc.returncode}: {proc.stdout.strip().splitlines()[-3:]}")
            (run_dir,) = reports.iterdir()
            result = json.loads((run_dir / "result.json").read_text())
            cells = len(result["plan"]["matrix"])
            parts = phase_starts(run_dir)
            walls.append(wall)
            print(f"run {n + 1}: {wall:.1f} s wall ({result['outcome']}; rollout {parts['rollout']:.1f} s, "
                  f"matrix {parts['matrix']:.1f} s for {cells} cells)")
    median = statistics.median(walls)
    print(f"expand-contract, full rehearsal with its matrix, warm: median {median:.1f} s of {runs} "
          f"({', '.join(f'{w:.1f}' for w in walls)}); goal under {GOAL_S:.0f} s: "
          f"{'met' if median < GOAL_S else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
