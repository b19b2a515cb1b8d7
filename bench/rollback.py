"""`rollback` end to end: from the command's start until /version, polled from outside
through the loopback URL, answers with the previous release. Median of N runs.

Usage: python bench/rollback.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from datetime import UTC, datetime

import httpx

from harness.config.target import find_target
from harness.environment.images import DEFAULT_BASE_IMAGE, ensure_images
from harness.environment.replica import Staging, connect, new_run_id, up


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    client = connect()
    target = find_target("shop")
    images = ensure_images(client, target, DEFAULT_BASE_IMAGE, print)
    staging = Staging(client, print)
    run_id = new_run_id("bench-rollback", datetime.now(UTC))
    to_version, to_return = [], []
    with up(staging, target, images, run_id, "bench-rollback") as replica, httpx.Client(base_url=replica.url) as http:
        for _ in range(args.runs):
            before = http.get("/version").json()["release"]
            staging.deploy_tool_checked(replica, ["deploy", "v2"])
            started = time.monotonic()
            thread = threading.Thread(target=staging.deploy_tool_checked, args=(replica, ["rollback"]))
            thread.start()
            while http.get("/version").json()["release"] != before:
                pass
            to_version.append(time.monotonic() - started)
            thread.join()
            to_return.append(time.monotonic() - started)
    print(f"rollback, start to /version showing the previous release, {args.runs} runs: "
          f"median {statistics.median(to_version):.3f} s (runs {', '.join(f'{t:.3f}' for t in to_version)})")
    print(f"rollback command, start to exit: median {statistics.median(to_return):.3f} s")


if __name__ == "__main__":
    main()
