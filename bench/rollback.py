"""`rollback` end to end: from the command's start until /version, polled from outside
through the loopback URL every 10 ms, answers with the previous release. Median of N runs.

Two ways in each run (deploy v2, time the rollback to v1, repeat): the deploy tool run
directly through the Docker API, and `gameday rollback --run RUN_ID` as a subprocess, as an
operator runs it (the figure the rollback-start-up issue asks for). Then the CLI's start-up
alone: `gameday --help`.

Usage: python bench/rollback.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx

from harness.config.target import find_target
from harness.environment.images import DEFAULT_BASE_IMAGE, ensure_images
from harness.environment.replica import Replica, Staging, connect, new_run_id, up

POLL_S = 0.01
TIMEOUT_S = 60.0
# The bench runs with the virtualenv's python (make bench), whose gameday script sits beside it.
GAMEDAY = str(Path(sys.executable).parent / "gameday")


def wait_for_release(http: httpx.Client, release: str, started: float, failed: Callable[[], str | None]) -> float:
    """Seconds from `started` until GET /version answers `release`."""
    while True:
        try:
            if http.get("/version").json()["release"] == release:
                return time.monotonic() - started
        except (httpx.HTTPError, ValueError):
            pass  # a request that fails mid-swap is not the answer; ask again
        problem = failed()
        if problem or time.monotonic() - started > TIMEOUT_S:
            raise SystemExit(f"rollback never showed {release}: {problem or f'timed out after {TIMEOUT_S:.0f} s'}")
        time.sleep(POLL_S)


def through_tool(staging: Staging, replica: Replica, http: httpx.Client, release: str) -> tuple[float, float]:
    """The deploy tool's rollback through the Docker API: (to /version, to exit) in seconds."""
    errors: list[BaseException] = []

    def roll_back() -> None:
        try:
            staging.deploy_tool_checked(replica, ["rollback"])
        except BaseException as exc:
            errors.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=roll_back)
    thread.start()
    to_version = wait_for_release(http, release, started, lambda: str(errors[0]) if errors else None)
    thread.join()
    if errors:
        raise SystemExit(f"deploy rollback failed: {errors[0]}")
    return to_version, time.monotonic() - started


def through_cli(run_id: str, http: httpx.Client, release: str) -> tuple[float, float]:
    """`gameday rollback --run RUN_ID` as a subprocess: (to /version, to exit) in seconds."""
    started = time.monotonic()
    proc = subprocess.Popen([GAMEDAY, "rollback", "--run", run_id],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def failed() -> str | None:
        code = proc.poll()
        return None if code in (None, 0) else f"gameday rollback exited {code}"

    to_version = wait_for_release(http, release, started, failed)
    _, stderr = proc.communicate(timeout=TIMEOUT_S)
    to_exit = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"gameday rollback exited {proc.returncode}: {stderr.strip()}")
    return to_version, to_exit


def startup(runs: int) -> list[float]:
    """`gameday --help`: interpreter, imports and the parser, nothing else."""
    times = []
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run([GAMEDAY, "--help"], stdout=subprocess.DEVNULL, check=True)
        times.append(time.monotonic() - started)
    return times


def line(what: str, times: list[float]) -> str:
    return f"{what}, {len(times)} runs: median {statistics.median(times):.3f} s " \
           f"(runs {', '.join(f'{t:.3f}' for t in times)})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    client = connect()
    target = find_target("shop")
    images = ensure_images(client, target, DEFAULT_BASE_IMAGE, print)
    staging = Staging(client, print)
    run_id = new_run_id("bench-rollback", datetime.now(UTC))
    tool_version, tool_exit, cli_version, cli_exit = [], [], [], []
    with up(staging, target, images, run_id, "bench-rollback") as replica, httpx.Client(base_url=replica.url) as http:
        version = http.get("/version").json()
        previous, name = version["release"], version["name"]  # the release directory, and v1
        for n in range(1, args.runs + 1):
            staging.deploy_tool_checked(replica, ["deploy", "v2"])
            to_version, to_exit = through_tool(staging, replica, http, previous)
            tool_version.append(to_version)
            tool_exit.append(to_exit)
            staging.deploy_tool_checked(replica, ["deploy", "v2"])
            to_version, to_exit = through_cli(run_id, http, previous)
            cli_version.append(to_version)
            cli_exit.append(to_exit)
            print(f"run {n}: deploy tool {tool_version[-1]:.3f} s to /version ({tool_exit[-1]:.3f} s to exit); "
                  f"gameday rollback {cli_version[-1]:.3f} s to /version ({cli_exit[-1]:.3f} s to exit)")
    print(line(f"deploy tool rollback, start to /version showing {name}", tool_version))
    print(line("deploy tool rollback, start to exit", tool_exit))
    print(line(f"gameday rollback --run (CLI end to end), start to /version showing {name}", cli_version))
    print(line("gameday rollback --run (CLI end to end), start to exit", cli_exit))
    print(line("gameday --help (CLI start-up)", startup(args.runs)))


if __name__ == "__main__":
    main()
