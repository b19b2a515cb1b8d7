"""Load: Locust as a subprocess (its gevent patching stays out of the orchestrator), and
the request records it writes, read back as they grow."""

from __future__ import annotations

import os
import signal
import socket
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
    """Locust's processes as data: `argv` is the one process, or the master in distributed
    mode, which alone writes `records`; `workers` are the worker processes on this machine.
    `stats` is where Locust writes its own final statistics (JSON)."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    records: Path
    log: Path
    workers: tuple[tuple[str, ...], ...] = ()
    stats: Path | None = None


def check_host(url: str, allow_remote: bool = False) -> str:
    """Load and probes go to the replica's loopback URL, never anywhere else by accident."""
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK and not allow_remote:
        raise InputError("--host", None, f"{url} is not a loopback address; pass --allow-remote-host to aim at it")
    return url


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at `host` now, for a Locust master (Locust's default,
    5557, would collide when two rehearsals run at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def plan(load: Load, url: str, run_dir: Path, run_time_s: float, allow_remote: bool = False,
         release_header: str | None = None, records: str = "requests.jsonl") -> LoadPlan:
    """Locust's command lines and environment, as data; `release_header` is the response
    header the recorder reads the answering release from (none when None); the requests
    go to `records` in `run_dir`, and Locust's own totals to `<records stem>.locust.json`.

    Distributed (`load.workers` or `load.remote_workers`): a master that waits for every
    worker before it starts the users (`--expect-workers`, at most 60 s), and the local
    workers, which send their requests to the master (harness/loadgen/recorder.py).
    """
    check_host(url, allow_remote)
    locustfiles = f"{RECORDER},{load.locustfile}"
    stem = records.removesuffix(".jsonl")
    common = ("-f", locustfiles, "--loglevel", "WARNING")
    argv: tuple[str, ...] = (
        sys.executable, "-m", "locust", *common,
        "--headless",
        "--host", url,
        "--users", str(load.users),
        "--spawn-rate", f"{load.spawn_rate:g}",
        "--run-time", f"{max(1, int(run_time_s))}s",
        "--stop-timeout", "2",
        "--exit-code-on-error", "0",
        "--only-summary",
        "--json-file", str(run_dir / f"{stem}.locust"),
    )
    workers: tuple[tuple[str, ...], ...] = ()
    if load.distributed:
        port = load.master_port or free_port()
        argv += ("--master", "--master-bind-host", load.master_bind_host, "--master-bind-port", str(port),
                 "--expect-workers", str(load.workers + load.remote_workers), "--expect-workers-max-wait", "60")
        # The workers here reach the master where it listens; on a wildcard bind, on loopback.
        near = "127.0.0.1" if load.master_bind_host in ("0.0.0.0", "*", "::", "") else load.master_bind_host
        worker = (sys.executable, "-m", "locust", *common, "--worker", "--master-host", near,
                  "--master-port", str(port))
        workers = (worker,) * load.workers
    path = run_dir / records
    env = (("GAMEDAY_RECORDS", str(path)),) + (
        (("GAMEDAY_RELEASE_HEADER", release_header),) if release_header else ())
    return LoadPlan(argv, env, path, run_dir / "locust.log", workers, run_dir / f"{stem}.locust.json")


class LoadProcess:
    """Locust's running processes: the one process or the master first, then the workers."""

    def __init__(self, plan: LoadPlan, procs: list[subprocess.Popen[bytes]]) -> None:
        self.plan = plan
        self.procs = procs

    def alive(self) -> bool:
        return self.procs[0].poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM the master (or the one process), which stops its workers and takes their
        last requests before it exits (the recorder waits up to 15 s for them, so `timeout`
        is longer); then whatever is left. Returns the master's status."""
        for proc in self.procs:  # the master first
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        return int(self.procs[0].returncode)


@contextmanager
def running(load_plan: LoadPlan) -> Iterator[LoadProcess]:
    """Locust running for the body; stopped on exit, whatever happened."""
    load_plan.records.parent.mkdir(parents=True, exist_ok=True)
    load_plan.records.touch()
    env = {**os.environ, **dict(load_plan.env)}
    procs: list[subprocess.Popen[bytes]] = []
    with load_plan.log.open("ab") as log:
        process = LoadProcess(load_plan, procs)
        try:
            for argv in (load_plan.argv, *load_plan.workers):
                try:
                    procs.append(subprocess.Popen(
                        argv, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                        start_new_session=True, preexec_fn=die_with_parent,
                    ))
                except OSError as exc:
                    raise HarnessError(f"could not start Locust: {exc}") from exc
            yield process
        finally:
            if procs:
                process.stop()
