"""Recording overhead: the harness's Locust (with the per-request recorder) against a
plain `locust --headless`, same replica, same users, same run. Prints req/s and the ratio.

Two loads: the scenario's own (paced users, as in a rehearsal) and a saturating one
(no wait, one cheap endpoint) that shows what the recorder costs when Locust is the
bottleneck. Runs alternate, median of --runs each.

Usage: python bench/load.py [--runs 3] [--seconds 15]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from harness.config.scenario import find_scenario
from harness.environment.images import DEFAULT_BASE_IMAGE, ensure_images
from harness.environment.replica import Staging, connect, new_run_id, up
from harness.rehearsal import load
from harness.results.records import read_records

SATURATE = """\
from locust import HttpUser, constant, task


class Hammer(HttpUser):
    wait_time = constant(0)

    @task
    def version(self):
        self.client.get("/version", name="GET /version")
"""


def requests_per_s(argv: list[str], env: dict[str, str], seconds: int, workdir: Path) -> float:
    prefix = workdir / "stats"
    subprocess.run([*argv, "--run-time", f"{seconds}s", "--csv", str(prefix)], env=env, check=True,
                   capture_output=True)
    with (workdir / "stats_stats.csv").open() as fh:
        row = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
    return float(row["Requests/s"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15)
    args = parser.parse_args()
    scenario = find_scenario("bad-migration")
    client = connect()
    images = ensure_images(client, scenario.target, DEFAULT_BASE_IMAGE, print)
    staging = Staging(client, print)
    run_id = new_run_id("bench-load", datetime.now(UTC))
    with tempfile.TemporaryDirectory() as tmp, up(staging, scenario.target, images, run_id, "bench-load") as replica:
        saturate = Path(tmp) / "saturate.py"
        saturate.write_text(SATURATE)
        loads = {
            "scenario load (20 paced users)": scenario.load,
            "saturating load (10 users, no wait)": dataclasses.replace(scenario.load, users=10, spawn_rate=10,
                                                                        locustfile=saturate),
        }
        for label, settings in loads.items():
            harness_rates, plain_rates = [], []
            for i in range(args.runs):
                workdir = Path(tmp) / f"{label[:8]}-{i}"
                workdir.mkdir()
                plan = load.plan(settings, replica.url, workdir, args.seconds,
                                 release_header=scenario.target.run.release_header)
                at = plan.argv.index("--run-time")
                harness_argv = list(plan.argv[:at] + plan.argv[at + 2:])
                env = {**os.environ, **dict(plan.env)}
                harness_rates.append(requests_per_s(harness_argv, env, args.seconds, workdir))
                recorded = sum(1 for _ in read_records(plan.records))
                plain_dir = workdir / "plain"
                plain_dir.mkdir()
                plain_argv = [sys.executable, "-m", "locust", "-f", str(settings.locustfile), "--headless",
                              "--host", replica.url, "--users", str(settings.users),
                              "--spawn-rate", f"{settings.spawn_rate:g}", "--only-summary", "--loglevel", "WARNING"]
                plain_rates.append(requests_per_s(plain_argv, dict(os.environ), args.seconds, plain_dir))
                print(f"  {label} run {i + 1}: harness {harness_rates[-1]:.1f} req/s ({recorded} recorded), "
                      f"plain {plain_rates[-1]:.1f} req/s")
            h, p = statistics.median(harness_rates), statistics.median(plain_rates)
            print(f"{label}: harness {h:.1f} req/s, plain locust {p:.1f} req/s, ratio {h / p:.3f} "
                  f"(median of {args.runs})")


if __name__ == "__main__":
    main()
