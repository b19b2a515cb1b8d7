"""The build cache: what a target's `build.fetch` commands download on the user's machine,
so that builds on the web host run offline and a second rehearsal downloads nothing.

Each release's files are written to a scratch directory and the fetch commands run there,
with `{cache}` replaced by the target's cache directory and $GAMEDAY_WEB_ARCH set to the
web host's architecture (so wheels can be fetched for it, not for this machine's Python). A stamp per release (a hash of
its files and the commands) skips releases already fetched. The web host sees the cache
read-only at `BUILD_CACHE` (`$GAMEDAY_BUILD_CACHE` in build commands).
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness.config.sources import cache_root, digest
from harness.config.target import Target
from harness.environment.local import LocalCommand
from harness.errors import InputError

BUILD_CACHE = "/var/cache/gameday"  # where the web host sees it; the deploy tool agrees
FETCH_TIMEOUT_S = 1800.0
OUTPUT_LINES = 3


def directory(target: Target) -> Path:
    """The target's build cache on this machine (created)."""
    path = cache_root() / "build" / target.name
    path.mkdir(parents=True, exist_ok=True)
    return path


def prefetch(target: Target, say: Callable[[str], None]) -> Path | None:
    """Run `build.fetch` for every release not fetched yet; the cache directory, or None
    when the target neither fetches nor builds.

    Raises `InputError` naming the release, the command and its last lines of output.
    """
    if not target.build.fetch and not target.build.commands:
        return None
    cache = directory(target)
    stamps = cache / ".fetched"
    stamps.mkdir(exist_ok=True)
    for release in target.releases if target.build.fetch else ():
        files = target.source.files(release)
        done = stamps / f"{release}-{digest(files, *target.build.fetch)}"
        if done.exists():
            continue
        started = time.monotonic()
        say(f"fetching what {release} builds from into {cache}")
        with tempfile.TemporaryDirectory(prefix=f"gameday-{release}-") as scratch:
            for name, data in files.items():
                path = Path(scratch) / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            for command in target.build.fetch:
                run(command.replace("{cache}", shlex.quote(str(cache))), Path(scratch), release, target)
        readable(cache)
        done.write_text(f"{time.monotonic() - started:.1f}s\n")
    return cache


def run(command: str, cwd: Path, release: str, target: Target) -> None:
    """One fetch command, with gameday's own Python first on PATH (so `python3 -m pip` works
    wherever gameday does); interrupted, with what it started, after FETCH_TIMEOUT_S."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    result = LocalCommand(command, cwd, {"PATH": path, "GAMEDAY_WEB_ARCH": web_arch()}, FETCH_TIMEOUT_S).wait()
    if not result.ok:
        last = " | ".join(line.strip() for line in result.tail(OUTPUT_LINES))
        raise InputError(str(target.path), "build.fetch",
                         f"release {release}: `{command}` exited {result.exit_status}: {last}")


def web_arch() -> str:
    """The web host's machine architecture as Linux names it (`x86_64`, `aarch64`): the
    local Docker engine runs this machine's. Fetch commands get it as $GAMEDAY_WEB_ARCH."""
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def readable(cache: Path) -> None:
    """Let the web host's users read what was fetched (the cache is mounted as is)."""
    for root, dirs, files in os.walk(cache):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            path = os.path.join(root, name)
            os.chmod(path, os.stat(path).st_mode | 0o444)
