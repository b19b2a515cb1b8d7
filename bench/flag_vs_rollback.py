"""Time to mitigate by flipping a feature flag off against rolling the release back, in
one run: `flag-vs-rollback` with RUNS rounds of each (default 5), taking turns, warm
images. Prints each mitigation's median time to mitigate (first failed request to the
mitigation in place), its median failed requests, and the ratio of the medians.

Usage: python bench/flag_vs_rollback.py [RUNS]
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.config.target import find_target
from harness.environment.images import DEFAULT_BASE_IMAGE, ensure_images
from harness.environment.replica import Staging, connect

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "flag-vs-rollback.toml"
GAMEDAY = str(Path(sys.executable).parent / "gameday")


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    staging = Staging(connect(), say=lambda m: print(f"gameday: {m}", file=sys.stderr))
    ensure_images(staging.client, find_target("shop"), DEFAULT_BASE_IMAGE, staging.say)
    with tempfile.TemporaryDirectory(prefix="gameday-bench-") as scratch:
        scenario = Path(scratch) / "flag-vs-rollback.toml"
        text = re.sub(r"(?m)^repeat = \d+", f"repeat = {rounds}", SCENARIO.read_text())
        scenario.write_text(text)
        reports = Path(scratch) / "reports"
        proc = subprocess.run([GAMEDAY, "run", str(scenario), "--reports", str(reports), "--quiet"],
                              capture_output=True, text=True, check=False)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"gameday run exited {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}")
        (run_dir,) = reports.iterdir()
        result = json.loads((run_dir / "result.json").read_text())
    medians = {}
    for mitigation in ("flag-off", "rollback"):
        mine = [r for r in result["rounds"] if r["mitigation"] == mitigation]
        times = [r["time_to_mitigate_s"] for r in mine]
        failed = [r["failed"] for r in mine]
        medians[mitigation] = statistics.median(times)
        print(f"{mitigation:>8}: time to mitigate median {statistics.median(times):.3f} s "
              f"({', '.join(f'{t:.3f}' for t in times)}); failed requests median {statistics.median(failed):g} "
              f"({', '.join(str(f) for f in failed)})")
    print(f"flag flip against rollback, {rounds} rounds each in one run ({result['outcome']}): the flip mitigates "
          f"{medians['rollback'] / medians['flag-off']:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
