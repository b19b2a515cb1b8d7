"""Load: Locust as a subprocess (its gevent patching stays out of the orchestrator), and
the request records it writes, read back as they grow."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol
from urllib.parse import urlsplit

from harness.config.scenario import Load
from harness.environment import children
from harness.errors import HarnessError, InputError
from harness.redaction import redact_text

RECORDER = Path(__file__).resolve().parent.parent / "loadgen" / "recorder.py"
MANIFEST = Path(__file__).resolve().parent.parent / "loadgen" / "manifest.py"
MANIFEST_TIMEOUT_S = 120.0
ORPHAN_RUN_TIME_S = 6 * 3600.0  # Locust's own --run-time: only a Locust gameday could not stop reaches it
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Once gameday is gone, Locust's master gets this long after SIGTERM to write its last records.
LOCUST_GRACE_S = 5.0


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
    status: Path | None = None  # the recorder's {"ts", "users", "state"}, rewritten every 0.5 s


@dataclass(frozen=True)
class LoadManifest:
    """What a locustfile defines, as Locust loads it: its User classes and its load shape
    (a LoadTestShape sets the users over time, in place of [load] users and spawn_rate)."""

    users: tuple[str, ...]
    shape: str | None = None


def manifest(locustfile: Path) -> LoadManifest:
    """Load `locustfile` with Locust, in its own process (harness/loadgen/manifest.py).
    Raises InputError naming the file, with Locust's or Python's own error line, when it
    cannot load or defines no User class: before anything starts, not minutes into a run."""
    try:
        proc = subprocess.run([sys.executable, str(MANIFEST), str(locustfile)], capture_output=True, text=True,
                              timeout=MANIFEST_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(str(locustfile), None, f"Locust could not load it: {exc}") from exc
    lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
    if proc.returncode != 0:
        raise InputError(str(locustfile), None, lines[-1] if lines else f"Locust could not load it "
                         f"(exit status {proc.returncode})")
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        return LoadManifest(tuple(data["users"]), data["shape"])
    except (IndexError, ValueError, KeyError, TypeError) as exc:
        raise InputError(str(locustfile), None, f"Locust loaded it but said nothing gameday reads: {exc}") from exc


def check_host(url: str, allow_remote: bool = False, source: str = "--host", key: str | None = None) -> str:
    """Load and probes go to a loopback URL, never anywhere else by accident. Raises
    InputError naming `source` (and `key`: the file and key that gave the URL)."""
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK and not allow_remote:
        raise InputError(source, key, f"{url} is not a loopback address, not on this machine; pass "
                         "--allow-remote-host to aim load and probes at it")
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
    status = run_dir / f"{stem}.status.json"
    env = (("GAMEDAY_RECORDS", str(path)), ("GAMEDAY_LOAD_STATUS", str(status))) + (
        (("GAMEDAY_RELEASE_HEADER", release_header),) if release_header else ())
    return LoadPlan(argv, env, path, run_dir / "locust.log", workers, run_dir / f"{stem}.locust.json", status)


# The recorder rewrites its status every 0.5 s: this long without a new one, Locust is
# stuck (a worker's stats reach the master every 3 s, but the master's own status does not wait).
STATUS_STALE_S = 3.0
STATUS_S = 0.5  # how often the recorder rewrites it
LOG_LINES = 3


@dataclass(frozen=True)
class LoadStatus:
    """What the recorder last said: when, how many users ran, the runner's state."""

    ts: float
    users: int
    state: str
    dropped: int = 0  # request records the records file would not take
    write_error: str = ""  # why (a full disk)


def read_status(path: Path | None) -> LoadStatus | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text())
        return LoadStatus(float(data["ts"]), int(data["users"]), str(data["state"]), int(data.get("dropped", 0)),
                          str(data.get("write_error", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_lost(exit_status: int | None, status: LoadStatus | None, users_seen: bool, now: float,
              shape: str | None, log_tail: Sequence[str] = ()) -> tuple[float, str] | None:
    """Whether the load generator has stopped making load, as (when, why), else None.

    Locust exited (`exit_status`), or its users are gone after they had run (`users_seen`:
    a load shape that ended, or a runner that stopped), or the recorder has not written its
    status for STATUS_STALE_S. A stalled service is not load lost: its users wait on their
    requests, and the recorder still says they run. `now` and `status.ts` are epoch seconds.
    """
    if status is not None and status.dropped:
        # Requests were made and not recorded: nothing can be judged on them from here on.
        return status.ts, (f"Locust could not write {status.dropped} request records "
                           f"({status.write_error or 'a write failed'})")
    stopped = status is not None and users_seen and (status.users == 0
                                                      or status.state in ("stopping", "stopped", "cleanup"))
    if stopped and status is not None and shape is not None:
        # Before it exited, if it did: a headless Locust quits once its load shape ends.
        return status.ts, f"the locustfile's load shape {shape} ended"
    if exit_status is not None:
        tail = f": {' | '.join(log_tail)}" if log_tail else ""
        # It went quiet by its last status at the latest (not when gameday looked).
        at = now if status is None else min(now, status.ts + STATUS_S)
        return at, f"Locust exited with status {exit_status}{tail}"
    if stopped and status is not None:
        return status.ts, f"Locust stopped its users ({status.state})"
    if status is None:
        return None
    if now - status.ts > STATUS_STALE_S:
        return status.ts, f"Locust stopped reporting: its last status is {now - status.ts:.1f}s old"
    return None


class LoadRun(Protocol):
    """Load in progress, as the rehearsal watches it."""

    def lost(self) -> tuple[float, str] | None:
        """When and why the load generator stopped making requests; None while it makes them."""
        ...


# Load generation as the stack offers it: the plan and the locustfile's shape to a running
# load for the body of a `with` (`running`, real Locust; unit tests pass a fake).
LoadGenerator = Callable[[LoadPlan, str | None], AbstractContextManager[LoadRun]]


class LoadProcess:
    """Locust's running processes: the one process or the master first, then the workers."""

    def __init__(self, plan: LoadPlan, procs: list[subprocess.Popen[bytes]], shape: str | None = None) -> None:
        self.plan = plan
        self.procs = procs
        self.shape = shape
        self.users_seen = False

    def alive(self) -> bool:
        return self.procs[0].poll() is None

    def lost(self) -> tuple[float, str] | None:
        """`load_lost` for these processes, now: (epoch seconds, cause) or None."""
        status = read_status(self.plan.status)
        if status is not None and status.users > 0:
            self.users_seen = True
        exit_status = self.procs[0].poll()
        tail = [] if exit_status is None else log_tail(self.plan.log, LOG_LINES)
        lost = load_lost(exit_status, status, self.users_seen, time.time(), self.shape, tail)
        if lost is not None and disk_full(self.plan.records.parent):
            # Locust's records and status are written to the run directory: said first.
            return lost[0], f"{self.plan.records.parent} is full, so Locust could not write its records ({lost[1]})"
        return lost

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


# Less room than this on the run directory's filesystem, and it is full: a request record
# or a status file no longer fits.
FULL_BYTES = 64 * 1024


def disk_full(path: Path) -> bool:
    """Whether the filesystem holding `path` has (almost) no room left for its user."""
    try:
        found = os.statvfs(path)
    except OSError:
        return False
    return found.f_bavail * found.f_frsize < FULL_BYTES


def log_tail(path: Path, count: int) -> list[str]:
    """The last `count` non-empty lines of Locust's log, for a message."""
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return []
    return lines[-count:]


class LogPump:
    """Locust's output, redacted line by line (harness.redaction) into its log in
    the run directory: the URL Locust is given may carry a password. A log that cannot be
    written (a full disk) is read on and dropped, so Locust never blocks on it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._out: IO[str] | None = None

    def __enter__(self) -> LogPump:
        self._out = self.path.open("a", encoding="utf-8")
        return self

    def follow(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        thread = threading.Thread(target=self._pump, args=(proc.stdout,), name="locust log", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _pump(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            with self._lock:
                if self._out is None:
                    continue
                try:
                    self._out.write(redact_text(raw.decode(errors="replace")))
                    self._out.flush()
                except OSError:
                    pass
        stream.close()

    def __exit__(self, *exc: object) -> None:
        for thread in self._threads:
            thread.join(timeout=5)
        with self._lock:
            out, self._out = self._out, None
        if out is not None:
            try:
                out.close()
            except OSError:
                pass


@contextmanager
def running(load_plan: LoadPlan, shape: str | None = None) -> Iterator[LoadProcess]:
    """Locust running for the body; stopped on exit, whatever happened. `shape` names the
    locustfile's load shape, for the cause when it ends."""
    load_plan.records.parent.mkdir(parents=True, exist_ok=True)
    load_plan.records.touch()
    env = {**os.environ, **dict(load_plan.env)}
    procs: list[subprocess.Popen[bytes]] = []
    with LogPump(load_plan.log) as log:
        process = LoadProcess(load_plan, procs, shape)
        try:
            for argv in (load_plan.argv, *load_plan.workers):
                try:
                    proc = children.start(argv, grace_s=LOCUST_GRACE_S, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                except OSError as exc:
                    raise HarnessError(f"could not start Locust: {exc}") from exc
                procs.append(proc)
                log.follow(proc)
            yield process
        finally:
            if procs:
                process.stop()
            for proc in procs:
                children.ended(proc)
