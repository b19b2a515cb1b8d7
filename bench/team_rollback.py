"""A team's rollback against the floor: Capistrano's `cap staging deploy:rollback` (run on
this machine, over SSH) and the built-in deploy tool's `rollback` (inside the web host),
each timed end to end from the command's start until GET /version, polled through the
loopback URL every 10 ms, answers with the previous release. Median of N of each, in one
run, each on its own replica with v1 then v2 deployed by its own tool.

Usage: python bench/team_rollback.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from harness.config.target import Target, find_target
from harness.deploy import Deployer
from harness.deploy.deployers import deployer_for
from harness.environment import CommandResult, buildcache
from harness.environment.images import DEFAULT_BASE_IMAGE, ensure_images
from harness.environment.processes import PROCESS_MANAGERS
from harness.environment.replica import ReplicaEnvironment, Staging, connect, new_run_id
from harness.rehearsal.clock import SystemClock
from harness.rehearsal.runbook import bring_up

POLL_S = 0.01
TIMEOUT_S = 60.0
CAPISTRANO = Path(__file__).resolve().parents[1] / "examples" / "capistrano" / "target.toml"


def served(http: httpx.Client) -> str | None:
    try:
        return str(http.get("/version").json()["release"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None  # a request that fails mid-swap is not the answer; ask again


def deploy(deployer: Deployer, release: str) -> None:
    running = deployer.start_deploy(release, gate=True)
    while (result := running.poll()) is None:
        time.sleep(0.05)
    if not result.ok:
        raise SystemExit(f"deploy {release} failed: {result.last_line()}")


def timed_rollback(deployer: Deployer, http: httpx.Client) -> tuple[float, float]:
    """(seconds until the previous release serves, seconds until the command exits)."""
    previous = served(http)
    deploy(deployer, "v2")
    wanted = previous
    done: list[CommandResult] = []
    started = time.monotonic()
    thread = threading.Thread(target=lambda: done.append(deployer.rollback()))
    thread.start()
    while served(http) != wanted:
        if time.monotonic() - started > TIMEOUT_S or (done and not done[0].ok):
            raise SystemExit(f"the rollback never served {wanted}: {done[0].last_line() if done else 'timed out'}")
        time.sleep(POLL_S)
    to_serving = time.monotonic() - started
    thread.join()
    if not done[0].ok:
        raise SystemExit(f"the rollback failed: {done[0].last_line()}")
    return to_serving, time.monotonic() - started


def measure(staging: Staging, target: Target, runs: int) -> list[tuple[float, float]]:
    images = ensure_images(staging.client, target, DEFAULT_BASE_IMAGE, staging.say)
    buildcache.prefetch(target, staging.say)
    run_id = new_run_id(f"bench-{target.name}", datetime.now(UTC))
    replica = staging.create(target, images, run_id, "bench")
    try:
        environment = ReplicaEnvironment(staging, replica)
        deployer = deployer_for(target)(environment)
        bring_up(target, environment, deployer, PROCESS_MANAGERS["supervisord"](environment), "v1", SystemClock())
        with httpx.Client(base_url=replica.url, timeout=2.0) as http:
            return [timed_rollback(deployer, http) for _ in range(runs)]
    finally:
        staging.remove(run_id)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    staging = Staging(connect(), say=lambda m: print(f"gameday: {m}", file=sys.stderr))
    figures = {}
    for label, target in (("built-in `deploy rollback`", find_target("shop")),
                          ("Capistrano `cap staging deploy:rollback`", find_target(str(CAPISTRANO)))):
        samples = measure(staging, target, args.runs)
        serving = statistics.median(s for s, _ in samples)
        exited = statistics.median(e for _, e in samples)
        figures[label] = serving
        print(f"{label:<42} previous release serving: median {serving:.3f} s "
              f"(runs {', '.join(f'{s:.3f}' for s, _ in samples)}); command exited: median {exited:.3f} s")
    floor, team = figures.values()
    print(f"Capistrano's rollback costs {team / floor:.1f}x the built-in one ({team - floor:+.3f} s), "
          f"median of {args.runs} each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
