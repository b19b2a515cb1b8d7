"""Recording overhead: the harness's Locust (with the per-request recorder) against plain
Locust, same replica, same users, same run. Prints req/s and the ratio.

Two measurements:
- the scenario's own load (paced users, as in a rehearsal), one Locust process;
- a saturating load (FastHttpUser, no wait, an endpoint nginx answers itself), with 1, 2
  and 4 Locust worker processes under a master: the harness's distributed mode, where
  every worker sends its requests to the master, against plain `locust --master` with
  plain workers. Locust is the bottleneck here, so this shows what recording costs.

Each pair alternates, and which side goes first alternates from pair to pair, so neither
always meets a warmer replica; median of --runs pairs (default 5). Req/s is Locust's own count over the span its
statistics cover (first request to last reported one), the same measure on both sides:
a plain master that is stopped may lose its workers' last reports, so a count over the
whole run would favour the harness, whose master waits for them. The harness side also
checks that its records equal Locust's own count.

Usage: python bench/load.py [--runs 5] [--seconds 10] [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from harness.config.scenario import Load
from harness.environment.images import DEFAULT_BASE_IMAGE, ensure_images
from harness.environment.replica import Staging, connect, new_run_id, up
from harness.rehearsal import load
from harness.rehearsal.catalogue import find_scenario

SATURATE = """\
from locust import FastHttpUser, constant, task


class Hammer(FastHttpUser):
    wait_time = constant(0)

    @task
    def ping(self):
        self.client.get("/_gameday/ping", name="GET /_gameday/ping")
"""


def locust_total(stats: Path) -> int:
    return sum(int(entry["num_requests"]) for entry in json.loads(stats.read_text()))


def locust_rate(stats: Path) -> float:
    """Requests a second over the span Locust's statistics cover."""
    entries = json.loads(stats.read_text())
    span = max(e["last_request_timestamp"] for e in entries) - min(e["start_time"] for e in entries)
    return locust_total(stats) / span


def harness_rate(settings: Load, url: str, workdir: Path, seconds: int, header: str | None) -> tuple[float, int, int]:
    """Req/s of the harness's own load code, with its records and Locust's count."""
    plan = load.plan(settings, url, workdir, seconds + 120, release_header=header)
    with load.running(plan):
        time.sleep(seconds)
    recorded = len(plan.records.read_text().splitlines())
    assert plan.stats is not None
    return locust_rate(plan.stats), recorded, locust_total(plan.stats)


def plain_rate(settings: Load, url: str, workdir: Path, seconds: int) -> float:
    """Req/s of plain Locust (no recorder) with the same users and workers."""
    base = [sys.executable, "-m", "locust", "-f", str(settings.locustfile), "--loglevel", "WARNING"]
    master = [*base, "--headless", "--host", url, "--users", str(settings.users), "--spawn-rate",
              f"{settings.spawn_rate:g}", "--only-summary", "--stop-timeout", "2",
              "--json-file", str(workdir / "plain")]
    workers = []
    if settings.workers:
        port = load.free_port()
        master += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                   "--expect-workers", str(settings.workers)]
        workers = [[*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]] * settings.workers
    with (workdir / "plain.log").open("ab") as log:
        procs = [subprocess.Popen(argv, stdout=log, stderr=log) for argv in (master, *workers)]
        time.sleep(seconds)
        procs[0].send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
    return locust_rate(workdir / "plain.json")


def compare(label: str, settings: Load, url: str, tmp: Path, args: argparse.Namespace, header: str | None) -> None:
    harness_rates, plain_rates = [], []
    for i in range(args.runs):
        workdir = tmp / f"{label.split()[0]}-{settings.workers}-{i}"
        (workdir / "plain").mkdir(parents=True)
        if i % 2:
            plain_rates.append(plain_rate(settings, url, workdir / "plain", args.seconds))
        rate, recorded, counted = harness_rate(settings, url, workdir, args.seconds, header)
        if recorded != counted:
            raise SystemExit(f"{label}: recorded {recorded} requests, Locust counted {counted}")
        harness_rates.append(rate)
        if not i % 2:
            plain_rates.append(plain_rate(settings, url, workdir / "plain", args.seconds))
        print(f"  {label} run {i + 1}: harness {rate:.1f} req/s ({recorded} recorded = Locust's count), "
              f"plain {plain_rates[-1]:.1f} req/s", flush=True)
    h, p = statistics.median(harness_rates), statistics.median(plain_rates)
    print(f"{label}: harness {h:.1f} req/s, plain locust {p:.1f} req/s, ratio {h / p:.3f} (median of {args.runs})",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", default="1,2,4", help="Locust worker counts for the saturating load")
    args = parser.parse_args()
    scenario = find_scenario("bad-migration")
    header = scenario.target.run.release_header
    client = connect()
    images = ensure_images(client, scenario.target, DEFAULT_BASE_IMAGE, print)
    staging = Staging(client, print)
    run_id = new_run_id("bench-load", datetime.now(UTC))
    with tempfile.TemporaryDirectory() as tmp, up(staging, scenario.target, images, run_id, "bench-load") as replica:
        saturate = Path(tmp) / "saturate.py"
        saturate.write_text(SATURATE)
        compare("scenario load (20 paced users, one process)", scenario.load, replica.url, Path(tmp), args, header)
        for workers in (int(n) for n in args.workers.split(",")):
            settings = dataclasses.replace(scenario.load, users=20, spawn_rate=20, locustfile=saturate, workers=workers)
            compare(f"saturating load (FastHttpUser, 20 users, {workers} workers)", settings, replica.url, Path(tmp),
                    args, header)


if __name__ == "__main__":
    main()
