"""A systemd web host against a supervisord one, same app, same images otherwise.

For each process manager, --runs times: the cold start of a replica (from `create` until
nginx and sshd answer under the manager, then until the first deploy's release serves),
and the rollback end to end (deploy v2, then from the rollback's start until /version,
polled through the loopback URL every 10 ms, answers with v1). Prints medians.

Usage: python bench/process_managers.py [--runs 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from datetime import UTC, datetime

import httpx

from harness.config.target import find_target
from harness.environment.images import DEFAULT_BASE_IMAGE, ensure_images
from harness.environment.replica import Staging, connect, new_run_id

POLL_S = 0.01
TIMEOUT_S = 60.0


def serving(url: str, release_dir: str, started: float) -> float:
    """Seconds from `started` until GET /version answers `release_dir`."""
    with httpx.Client(base_url=url, timeout=2) as http:
        while time.monotonic() - started < TIMEOUT_S:
            try:
                if http.get("/version").json()["release"] == release_dir:
                    return time.monotonic() - started
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(POLL_S)
    raise SystemExit(f"{release_dir} never served")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    client = connect()
    staging = Staging(client, say=print)
    shop = find_target("shop")
    for manager in ("supervisord", "systemd"):
        target = dataclasses.replace(shop, run=dataclasses.replace(shop.run, process_manager=manager))
        images = ensure_images(client, target, DEFAULT_BASE_IMAGE, print)
        up_s, first_s, rollback_s = [], [], []
        for i in range(args.runs):
            run_id = new_run_id(f"bench-{manager}", datetime.now(UTC))
            started = time.monotonic()
            replica = staging.create(target, images, run_id, "bench")
            try:
                up_s.append(time.monotonic() - started)
                staging.deploy_tool_checked(replica, ["deploy", "v1"])
                v1 = staging.exec(replica.web, ["readlink", "/srv/app/current"]).strip().rsplit("/", 1)[-1]
                first_s.append(serving(replica.url, v1, started))
                staging.deploy_tool_checked(replica, ["deploy", "v2"])
                began = time.monotonic()
                staging.deploy_tool_checked(replica, ["rollback"])
                rollback_s.append(serving(replica.url, v1, began))
            finally:
                staging.remove(run_id)
            print(f"  {manager} run {i + 1}: up {up_s[-1]:.2f}s, first release serving {first_s[-1]:.2f}s, "
                  f"rollback {rollback_s[-1]:.2f}s", flush=True)
        print(f"{manager}: cold start {statistics.median(up_s):.2f}s (first release serving at "
              f"{statistics.median(first_s):.2f}s), rollback end to end {statistics.median(rollback_s):.2f}s "
              f"(median of {args.runs})", flush=True)


if __name__ == "__main__":
    main()
