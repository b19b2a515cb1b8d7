"""Report rendering at scale: a run of N recorded requests (default 1,000,000) renders
into report.html; prints the median wall time of --runs renders and the peak memory of
the rendering process, for 100k and for N requests, to show memory stays bounded.

Usage: python bench/report.py [--requests 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.rehearsal.catalogue import find_scenario
from harness.results.measure import Observed, measure

# VmHWM, not ru_maxrss: ru_maxrss survives exec and would report the parent's peak.
RENDER = """
import sys, time
from pathlib import Path
from harness.rehearsal.catalogue import load_scenario
from harness.reporting.report import write_report
started = time.perf_counter()
write_report(Path(sys.argv[1]), scenarios=load_scenario)
elapsed = time.perf_counter() - started
hwm = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(elapsed, hwm)
"""


def make_run(root: Path, n: int) -> Path:
    """A synthetic bad-migration run: 50 req/s... compressed so n requests span an hour."""
    scenario = find_scenario("bad-migration")
    run_dir = root / f"run-{n}"
    run_dir.mkdir()
    t0 = 1_800_000_000.0
    span = 3600.0
    rng = random.Random(7)
    with (run_dir / "requests.jsonl").open("w") as fh:
        for i in range(n):
            ts = t0 - 60 + i * span / n
            bad = 0 <= ts - t0 < 30
            latency = rng.lognormvariate(3, 0.5)
            fh.write(json.dumps([round(ts, 4), 500 if bad else 200, round(latency, 1), int(bad),
                                 "GET /orders", "status 500" if bad else "", "r1"]) + "\n")
    timeline = [{"ts": t0 - 60, "event": "phase_started", "phase": "baseline"},
                {"ts": t0, "event": "fault_injected"}, {"ts": t0, "event": "phase_started", "phase": "detect"},
                {"ts": t0 + 1, "event": "alarm_raised", "detector": "error_rate", "detail": "x"},
                {"ts": t0 + 40, "event": "phase_started", "phase": "verify"}]
    (run_dir / "timeline.jsonl").write_text("".join(json.dumps(e) + "\n" for e in timeline))
    observed = Observed(run_id=run_dir.name, started_at=t0 - 60, finished_at=t0 + span, t0=t0, timeline=timeline,
                        deploy_log=[], releases={"before": "r1", "deployed": "r2", "after": "r1"}, jobs=None)
    from harness.results.records import read_records

    (run_dir / "result.json").write_text(json.dumps(measure(scenario, observed, read_records(run_dir /
                                                                                              "requests.jsonl")).to_json()))
    return run_dir


def render(run_dir: Path) -> tuple[float, int]:
    out = subprocess.run([sys.executable, "-c", RENDER, str(run_dir)], capture_output=True, text=True, check=True)
    elapsed, maxrss_kb = out.stdout.split()
    return float(elapsed), int(maxrss_kb)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in (100_000, args.requests):
            run_dir = make_run(Path(tmp), n)
            results = [render(run_dir) for _ in range(args.runs)]
            times = [t for t, _ in results]
            peak = max(m for _, m in results)
            size = (run_dir / "report.html").stat().st_size
            print(f"{n:>9,} requests: render median {statistics.median(times):.2f} s "
                  f"(runs {', '.join(f'{t:.2f}' for t in times)}), peak RSS {peak / 1024:.0f} MiB, "
                  f"report.html {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
