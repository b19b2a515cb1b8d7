"""Load: Locust as a subprocess (its gevent patching stays out of the orchestrator), and
the request records it writes, read back as they grow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from harness.config.scenario import Load
from harness.environment.local import die_with_parent
from harness.errors import HarnessError, InputError

RECORDER = Path(__file__).resolve().parent.parent / "loadgen" / "recorder.py"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class LoadPlan:
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    records: Path
    log: Path


def check_host(url: str, allow_remote: bool = False) -> str:
    """Load and probes go to the replica's loopback URL, never anywhere else by accident."""
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK and not allow_remote:
        raise InputError("--host", None, f"{url} is not a loopback address; pass --allow-remote-host to aim at it")
    return url


def plan(load: Load, url: str, run_dir: Path, run_time_s: float, allow_remote: bool = False,
         release_header: str | None = None, records: str = "requests.jsonl") -> LoadPlan:
    """Locust's command line and environment, as data; `release_header` is the response
    header the recorder reads the answering release from (none when None); the requests
    go to `records` in `run_dir`."""
    check_host(url, allow_remote)
    argv = (
        sys.executable, "-m", "locust",
        "-f", f"{RECORDER},{load.locustfile}",
        "--headless",
        "--host", url,
        "--users", str(load.users),
        "--spawn-rate", f"{load.spawn_rate:g}",
        "--run-time", f"{max(1, int(run_time_s))}s",
        "--stop-timeout", "2",
        "--exit-code-on-error", "0",
        "--only-summary",
        "--loglevel", "WARNING",
    )
    path = run_dir / records
    env = (("GAMEDAY_RECORDS", str(path)),) + (
        (("GAMEDAY_RELEASE_HEADER", release_header),) if release_header else ())
    return LoadPlan(argv, env, path, run_dir / "locust.log")


class LoadProcess:
    def __init__(self, plan: LoadPlan, proc: subprocess.Popen[bytes]) -> None:
        self.plan = plan
        self.proc = proc

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)


@contextmanager
def running(load_plan: LoadPlan) -> Iterator[LoadProcess]:
    """Locust running for the body; stopped on exit, whatever happened."""
    load_plan.records.parent.mkdir(parents=True, exist_ok=True)
    load_plan.records.touch()
    with load_plan.log.open("ab") as log:
        try:
            proc = subprocess.Popen(
                load_plan.argv, env={**os.environ, **dict(load_plan.env)}, stdout=log, stderr=log,
                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent,
            )
        except OSError as exc:
            raise HarnessError(f"could not start Locust: {exc}") from exc
        process = LoadProcess(load_plan, proc)
        try:
            yield process
        finally:
            process.stop()
