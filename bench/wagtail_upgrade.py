"""The Wagtail upgrade rehearsal (examples/wagtail/upgrade.toml), wall time with warm
images: the first run with an empty build cache (and an empty pip cache, so it downloads
every wheel), then a second run with the build cache (it downloads nothing). Each run is
`gameday run` as a user types it.

Usage: python bench/wagtail_upgrade.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.config.target import find_target
from harness.environment.images import DEFAULT_BASE_IMAGE, ensure_images
from harness.environment.replica import Staging, connect

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "wagtail"
GAMEDAY = str(Path(sys.executable).parent / "gameday")


def rehearse(cache: Path, reports: Path) -> tuple[float, dict[str, object]]:
    started = time.monotonic()
    proc = subprocess.run([GAMEDAY, "run", str(EXAMPLE / "upgrade.toml"), "--reports", str(reports), "--quiet"],
                          env={**os.environ, "GAMEDAY_CACHE_DIR": str(cache), "PIP_CACHE_DIR": str(cache / "pip")},
                          capture_output=True, text=True,
                          check=False)
    took = time.monotonic() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"gameday run exited {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}")
    result = json.loads(sorted(reports.glob("*/result.json"))[-1].read_text())
    return took, result


def main() -> int:
    staging = Staging(connect(), say=lambda m: print(f"gameday: {m}", file=sys.stderr))
    ensure_images(staging.client, find_target(str(EXAMPLE / "target.toml")), DEFAULT_BASE_IMAGE, staging.say)
    with tempfile.TemporaryDirectory(prefix="gameday-bench-cache-") as scratch:
        cache, reports = Path(scratch) / "cache", Path(scratch) / "reports"
        reports.mkdir()
        for label in ("first run, empty build cache", "second run, with the build cache"):
            took, result = rehearse(cache, reports)
            times, durations = result["times"], result["durations"]
            assert isinstance(times, dict) and isinstance(durations, dict)
            requests = result["requests"]
            assert isinstance(requests, dict)
            fetch_s = [p.read_text().strip() for p in sorted((cache / "build" / "wagtail" / ".fetched").iterdir())]
            print(f"{label:<34} {took:6.1f} s wall; outcome {result['outcome']}; "
                  f"failed {requests['failed']} of {requests['total']} requests; "
                  f"rollback {durations['time_to_rollback_s']} s; fetches (first run) took {', '.join(fetch_s)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
