"""Cold image build (no gameday images, no base image) and warm `gameday up`, wall times.

Removes only images gameday built or bootstrapped (label gameday.image), then rebuilds.
Usage: python bench/build.py [--warm-runs N] [--skip-cold]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import docker

from harness.config.target import find_target
from harness.environment.images import DEFAULT_BASE_IMAGE, IMAGE_LABEL, ensure_images
from harness.environment.replica import connect


def remove_gameday_images(client: docker.DockerClient) -> int:
    images = client.images.list(filters={"label": IMAGE_LABEL})
    # Built images first, the base image they start from last.
    images.sort(key=lambda i: i.labels.get(IMAGE_LABEL) == "base")
    for image in images:
        client.images.remove(image.id, force=True)
    return len(images)


def gameday(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, check=True)
    return proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warm-runs", type=int, default=3)
    parser.add_argument("--skip-cold", action="store_true")
    args = parser.parse_args()
    client = connect()
    if not args.skip_cold:
        removed = remove_gameday_images(client)
        started = time.monotonic()
        ensure_images(client, find_target("shop"), DEFAULT_BASE_IMAGE, lambda m: print(f"  {m}"))
        print(f"cold build (removed {removed} images, bootstrap + build): {time.monotonic() - started:.1f} s")
    times = []
    for _ in range(args.warm_runs):
        started = time.monotonic()
        out = gameday("up")
        times.append(time.monotonic() - started)
        run_id = out.strip().splitlines()[-1].split()[1]
        gameday("down", "--run", run_id)
    print(f"warm `gameday up` (images cached), {len(times)} runs: median {statistics.median(times):.1f} s, "
          f"runs {', '.join(f'{t:.1f}' for t in times)}")


if __name__ == "__main__":
    main()
