#!/usr/bin/env python3
"""The deploy tool that runs inside the web host: deploy, rollback and list releases.

It is copied into the web image as /usr/local/bin/deploy and uses the standard library
only. Every step is appended to shared/log/deploy.jsonl as one JSON line, a `StepRecord`
(ts, action, step, release, release_dir, ok, duration_s, detail); the harness reads that
file and never parses `detail`.

SIGTERM or SIGINT stops a deploy as Ctrl-C would: the running step fails, a release not
yet live is aborted (its committed migration reverted), a live one stays for `rollback`,
the lock is released, and the tool exits 128 + the signal number (143, 130).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from types import FrameType
from typing import Any

EXIT_FAILED = 1
APP_USER = "app"  # the user the process manager runs the app as (the web image's supervisord.conf)
EXIT_USAGE = 2
STALE_LOCK_S = 600.0
GATE_TIMEOUT_S = 15.0
GATE_FAILURES = 5  # unhealthy answers in a row (0.2 s apart) that fail the gate
VERIFY_TIMEOUT_S = 15.0
VERIFY_EXITS = 2  # app server exits since the reload that mean it cannot boot
VERIFY_DOWN_S = 1.0  # EXITED or STOPPED this long: supervisord did not restart it
WEB_LOG_LINES = 3
BUILD_CACHE = "/var/cache/gameday"  # the target's build cache, mounted read-only
BUILD_TIMEOUT_S = 900.0  # one build command
# Releases a deploy keeps: enough for a five-step plan deployed, rolled back and forward
# again (eleven directories), so every release of it is still there for the matrix.
KEEP_RELEASES = 12
BUILD_LOG_LINES = 3
RECENT_EXIT_S = 5  # an app server that exited this recently may be crash-looping
VERIFY_SETTLE_S = 1.0  # then one pid RUNNING this long before an answer counts
# supervisord's XML-RPC fault codes (supervisor/xmlrpc.py)
FAULT_ALREADY_STARTED = 60
# Set by a rehearsal's `fault.killed_after`: the deploy step after which this tool kills
# itself with SIGKILL (harness/deploy/builtin.py passes it).
KILL_AFTER_ENV = "GAMEDAY_KILL_AFTER_STEP"
# A start supervisord gave up on: the program exited within startsecs each time, or could
# not be spawned (supervisor's rpcinterface Faults).
FAULT_ABNORMAL_TERMINATION = 40
FAULT_SPAWN_ERROR = 50
FAULT_NOT_RUNNING = 70


class DeployError(Exception):
    """A deploy or rollback that stopped; `code` is the exit status to use."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


class Interrupted(DeployError):
    """SIGTERM or SIGINT arrived; the exit status is 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        self.signame = signal.Signals(signum).name
        super().__init__(f"interrupted by {self.signame}", 128 + signum)


class Interrupts:
    """Turns the first SIGTERM or SIGINT into `Interrupted`, raised in the main thread.

    Later signals are ignored. Inside `shielded()` the first signal waits until the block
    is left, so a lock is never half taken or half released, `current` never half
    swapped, and an abort (a schema revert included) runs to its end.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.received: int | None = None
        self._raised = False
        self._depth = 0

    @property
    def exit_code(self) -> int | None:
        return None if self.received is None else 128 + self.received

    def handle(self, signum: int, frame: FrameType | None = None) -> None:
        if self.received is not None:
            return
        self.received = signum
        if self._depth == 0:
            self._raised = True
            raise Interrupted(signum)

    @contextmanager
    def shielded(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if self._depth == 0 and self.received is not None and not self._raised:
            self._raised = True
            raise Interrupted(self.received)

    @contextmanager
    def installed(self) -> Iterator[None]:
        previous = {s: signal.signal(s, self.handle) for s in self.SIGNALS}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


INTERRUPTS = Interrupts()  # signal handlers are per process, so there is one


@dataclass(frozen=True)
class ReleaseRef:
    """The release a step is about: its name ("v2") and its directory under releases/
    ("20261129T101500Z"), each None while unknown or not yet created."""

    name: str | None = None
    dir: str | None = None


@dataclass(frozen=True)
class StepRecord:
    """One line of shared/log/deploy.jsonl.

    `ts` is when the step ended (RFC 3339, UTC, `Z`); `action` is deploy or rollback;
    `release` the release name and `release_dir` its directory under releases/ (or null);
    `duration_s` in seconds; `detail` is for people.
    """

    ts: str
    action: str
    step: str
    release: str | None
    release_dir: str | None
    ok: bool
    duration_s: float
    detail: str

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass(frozen=True)
class Layout:
    """Where a host keeps its releases, shared files and release builds."""

    root: Path
    builds: Path
    run: Path
    supervisor_socket: Path = Path("/run/supervisor.sock")

    @property
    def releases(self) -> Path:
        return self.root / "releases"

    @property
    def shared(self) -> Path:
        return self.root / "shared"

    @property
    def current(self) -> Path:
        return self.root / "current"

    @property
    def lock(self) -> Path:
        return self.shared / "deploy.lock"

    @property
    def log(self) -> Path:
        return self.shared / "log" / "deploy.jsonl"

    @property
    def snapshots(self) -> Path:
        return self.shared / "snapshots"


@dataclass(frozen=True)
class TargetCommands:
    """The commands a target runs, as baked into the image at build time."""

    web: str
    worker: str | None  # None: the target has no background worker
    health_path: str
    gate_path: str
    version_path: str | None  # None: the served release cannot be asked, only its health
    migrate: str
    down_migrate: str | None
    build: tuple[str, ...] = ()  # shell commands run in a new release directory, in order
    process_manager: str = "supervisord"  # or "systemd": what runs the app server and the worker

    @classmethod
    def load(cls, path: Path) -> TargetCommands:
        data = json.loads(path.read_text())
        return cls(
            web=data["web"],
            worker=data.get("worker"),
            health_path=data["health_path"],
            gate_path=data.get("gate_path") or data["health_path"],
            version_path=data.get("version_path"),
            migrate=data["migrate"],
            down_migrate=data.get("down_migrate"),
            build=tuple(data.get("build") or ()),
            process_manager=data.get("process_manager") or "supervisord",
        )


# --- pure rules -------------------------------------------------------------------


def release_id(now: datetime, existing: Sequence[str]) -> str:
    """A UTC timestamp directory name, suffixed when that second is taken already."""
    base = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    if base not in existing:
        return base
    n = 1
    while f"{base}-{n}" in existing:
        n += 1
    return f"{base}-{n}"


def release_sort_key(rid: str) -> tuple[str, int]:
    stamp, _, suffix = rid.partition("-")
    return stamp, int(suffix) if suffix.isdigit() else 0


def previous_release(ordered: Sequence[str], current: str | None, bad: set[str]) -> str | None:
    """The newest good release older than `current`: what a rollback goes back to."""
    if current not in ordered:
        return None
    older = ordered[: ordered.index(current)]
    for rid in reversed(older):
        if rid not in bad:
            return rid
    return None


def releases_to_remove(
    ordered: Sequence[str], current: str | None, previous: str | None, keep: int
) -> list[str]:
    """Releases beyond the newest `keep`, never the current or the previous one."""
    protected = {r for r in (current, previous) if r}
    newest = set(ordered[-keep:]) if keep > 0 else set()
    return [r for r in ordered if r not in newest and r not in protected]


def render(command: str, **values: str) -> list[str]:
    return [part.format(**values) for part in shlex.split(command)]


class Migration(Enum):
    """How far a deploy's migrate step got before the deploy stopped."""

    NOT_RUN = "not run"
    STARTED = "started"  # failed or interrupted: part of it may have committed
    COMMITTED = "committed"


@dataclass(frozen=True)
class AbortPlan:
    """What an abort does with the release it abandons."""

    remove_release: bool
    bad_reason: str | None  # the BAD marker's text when the release is kept
    ok: bool  # False when the schema was left migrated
    detail: str


def needs_revert(migration: Migration) -> bool:
    """Whether an abort must revert the schema before it can let the release go."""
    return migration is not Migration.NOT_RUN


def abort_plan(migration: Migration, reverted: bool) -> AbortPlan:
    """An abort never leaves a committed migration without a way back: the release (with
    its down migration) is removed only once its schema is reverted; otherwise it is kept
    and marked BAD, which is what `rollback --db-only` looks for."""
    if not needs_revert(migration):
        return AbortPlan(True, None, True, "aborted before its migration")
    what = ("aborted after its migration committed" if migration is Migration.COMMITTED
            else "aborted during its migration")
    if reverted:
        return AbortPlan(True, None, True, f"{what}; schema reverted")
    return AbortPlan(False, f"{what}; schema not reverted", False,
                     f"{what}; schema NOT reverted; release kept as BAD for rollback --db-only")


def boot_failure(state: str, exits: int, down_for_s: float, shown: str = "") -> str | None:
    """Why the live app server clearly cannot boot, or None while it still may.

    `state` is supervisord's state of the program, `exits` how many times it exited since
    the reload, `down_for_s` how long it has been EXITED or STOPPED. FATAL and BACKOFF are
    supervisord's own verdicts (with its default startsecs=1, as the replica has, a server
    that dies at boot is BACKOFF). Under a config with startsecs=0 a crash loop shows as
    RUNNING, so exits count too; one exit may be the previous release's server dying as
    it is replaced, two may not. States: supervisord docs, "Process States"; systemd's are
    mapped onto them (`Systemd.info`), and `shown` gives them in systemd's own words.
    """
    shown = shown or state
    if state in ("FATAL", "BACKOFF"):
        return f"web is {shown}"
    if state in ("EXITED", "STOPPED") and down_for_s >= VERIFY_DOWN_S:
        return f"web is {shown} and was not restarted"
    if exits >= VERIFY_EXITS:
        return f"web exited {exits} times since the reload (now {shown})"
    return None


class ServerWatch:
    """Follows supervisord's getProcessInfo of the app server after a reload: says when it
    clearly cannot boot (`boot_failure`) and when its answers can be trusted.

    A server that exited shortly before or after the reload may be one whose workers
    loaded the release being left and is about to die; its answers count only once one
    pid has stayed RUNNING for VERIFY_SETTLE_S.
    """

    def __init__(self, reloaded_at: float) -> None:
        self.reloaded_at = reloaded_at  # epoch seconds, supervisord's clock
        self.exits: set[int] = set()
        self.down_since: float | None = None
        self.unsettled = False
        self.pid = 0
        self.pid_since = 0.0
        self.restarts: int | None = None  # the first NRestarts seen (systemd), else None

    def observe(self, info: dict[str, Any], now: float) -> str | None:
        """`info` as getProcessInfo returns it; `now` is a monotonic time in seconds.
        Returns why the server cannot boot, or None."""
        state = str(info["statename"])
        stop = int(info.get("stop") or 0)  # whole seconds: two exits in one count once
        if stop >= self.reloaded_at:
            self.exits.add(stop)
        if stop and stop >= self.reloaded_at - RECENT_EXIT_S:
            self.unsettled = True
        restarts = info.get("restarts")
        if isinstance(restarts, int):
            self.restarts = restarts if self.restarts is None else self.restarts
            # Each restart since the first look is an exit (negative keys: never a timestamp).
            self.exits.update(-n for n in range(self.restarts + 1, restarts + 1))
            self.unsettled = self.unsettled or restarts > self.restarts
        pid = int(info.get("pid") or 0) if state == "RUNNING" else 0
        if pid != self.pid:
            self.pid, self.pid_since = pid, now
        if state not in ("EXITED", "STOPPED"):
            self.down_since = None
        elif self.down_since is None:
            self.down_since = now
        why = boot_failure(state, len(self.exits), 0.0 if self.down_since is None else now - self.down_since,
                           str(info.get("shown") or ""))
        if why and self.exits and info.get("exitstatus") not in (None, ""):
            why += f", last exit status {info.get('exitstatus')}"
        return why

    def settled(self, now: float) -> bool:
        return not self.unsettled or (self.pid != 0 and now - self.pid_since >= VERIFY_SETTLE_S)


def tail_lines(text: str, count: int) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()][-count:]


# --- effects ----------------------------------------------------------------------


class DeployLog:
    """Appends one JSON line per step and echoes a short line for people."""

    def __init__(self, path: Path, action: str, out: Any = sys.stdout) -> None:
        self.path = path
        self.action = action
        self.out = out
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, step: str, ref: ReleaseRef, ok: bool, duration_s: float, detail: str) -> None:
        record = StepRecord(
            ts=datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
            action=self.action,
            step=step,
            release=ref.name,
            release_dir=ref.dir,
            ok=ok,
            duration_s=round(duration_s, 4),
            detail=detail,
        )
        with self.path.open("a") as fh:
            fh.write(record.to_json() + "\n")
            fh.flush()
        mark = "ok  " if ok else "FAIL"
        print(f"{mark} {self.action} {step:<10} {duration_s:6.2f}s  {detail}", file=self.out, flush=True)
        if ok and self.action == "deploy" and os.environ.get(KILL_AFTER_ENV) == step:
            # A rehearsal's fault: die here as an OOM kill would, with no cleanup and the lock held.
            os.kill(os.getpid(), signal.SIGKILL)

    @contextmanager
    def step(self, name: str, ref: ReleaseRef) -> Iterator[list[str]]:
        """Time a step; the body appends its detail; an exception logs it as failed."""
        detail: list[str] = []
        started = time.monotonic()
        try:
            yield detail
        except DeployError as exc:
            self.write(name, ref, False, time.monotonic() - started, str(exc))
            raise
        except Exception as exc:
            self.write(name, ref, False, time.monotonic() - started, f"{type(exc).__name__}: {exc}")
            raise DeployError(f"{name} failed: {exc}") from exc
        self.write(name, ref, True, time.monotonic() - started, "; ".join(detail))


class Lock:
    """An atomic mkdir lock that knows its owner and breaks when the owner is gone."""

    def __init__(self, path: Path, stale_after_s: float = STALE_LOCK_S) -> None:
        self.path = path
        self.stale_after_s = stale_after_s

    def owner(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.path / "owner.json").read_text()))
        except (OSError, ValueError):
            return {}

    def is_stale(self, now: float) -> bool:
        owner = self.owner()
        pid = owner.get("pid")
        if isinstance(pid, int) and not pid_alive(pid):
            return True
        started = owner.get("started")
        if not isinstance(started, (int, float)):
            try:
                started = self.path.stat().st_mtime
            except FileNotFoundError:
                return True
        return now - float(started) > self.stale_after_s

    def acquire(self, action: str) -> str:
        """Take the lock; returns a note when a stale lock was broken."""
        note = ""
        for _ in range(2):
            try:
                self.path.mkdir()
            except FileExistsError:
                if not self.is_stale(time.time()):
                    owner = self.owner()
                    raise DeployError(
                        f"deploy is locked by {owner.get('action', 'another deploy')} "
                        f"(pid {owner.get('pid', '?')}) since {owner.get('since', '?')}; "
                        f"remove {self.path} if that process is gone",
                        EXIT_USAGE,
                    ) from None
                note = f"broke stale lock of pid {self.owner().get('pid', '?')}"
                shutil.rmtree(self.path, ignore_errors=True)
                continue
            (self.path / "owner.json").write_text(
                json.dumps(
                    {
                        "pid": os.getpid(),
                        "action": action,
                        "started": time.time(),
                        "since": datetime.now(UTC).isoformat(timespec="seconds"),
                    }
                )
            )
            return note
        raise DeployError(f"could not take the lock {self.path}", EXIT_USAGE)

    def release(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def tolerate(fault_code: int, call: Any, *args: Any) -> bool:
    """Make a supervisord call that may race a program's own state change; False when it
    answered with `fault_code` (e.g. NOT_RUNNING: the program exited meanwhile)."""
    try:
        call(*args)
    except xmlrpc.client.Fault as exc:
        if exc.faultCode != fault_code:
            raise
        return False
    return True


class Supervisor:
    """supervisord, over XML-RPC on its unix socket (no supervisorctl spawned). States are
    supervisord's own (supervisord docs, "Process States")."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path

    def rpc(self) -> Any:
        return xmlrpc.client.ServerProxy("http://localhost", transport=UnixTransport(str(self.socket_path))).supervisor

    def info(self, program: str) -> dict[str, Any]:
        """getProcessInfo: `statename`, `pid`, `stop` (epoch seconds of the last exit), `exitstatus`."""
        return dict(self.rpc().getProcessInfo(program))

    def state(self, program: str) -> str:
        return str(self.info(program)["statename"])

    def hup(self, program: str) -> bool:
        """SIGHUP to a running program; False when it was not running."""
        return tolerate(FAULT_NOT_RUNNING, self.rpc().signalProcess, program, "HUP")

    def stop(self, program: str) -> str:
        """Stop and wait (supervisord's stopwaitsecs, then SIGKILL); returns a note."""
        tolerate(FAULT_NOT_RUNNING, self.rpc().stopProcess, program, True)
        return ""

    def start(self, program: str, wait: bool = True) -> str:
        """Start a program and, with `wait`, wait for supervisord's verdict (startsecs);
        returns what happened. A start supervisord gives up on (the release's program
        cannot boot) is a note, not an error: the verify step decides about the app server."""
        try:
            self.rpc().startProcess(program, wait)
            if not wait:
                return "starting"
        except xmlrpc.client.Fault as exc:
            if exc.faultCode == FAULT_ALREADY_STARTED:  # supervisord is restarting it, from `current` too
                return "started (already starting)"
            if exc.faultCode in (FAULT_ABNORMAL_TERMINATION, FAULT_SPAWN_ERROR):
                return f"did not start ({exc.faultString})"
            raise
        return "started"

    def refused(self, program: str, since: float) -> str | None:
        """supervisord never refuses a start it is asked for."""
        return None


# systemd's unit states, as supervisord's process states for the rules above:
# (ActiveState, SubState) -> statename. A unit waiting to restart after its process died
# is BACKOFF; one systemd gave up on (its start limit hit) is failed, FATAL.
SYSTEMD_STATES = {
    ("active", "running"): "RUNNING",
    ("activating", "auto-restart"): "BACKOFF",
    ("activating", "start"): "STARTING",
    ("activating", "start-pre"): "STARTING",
    ("deactivating", "stop-sigterm"): "STOPPING",
    ("deactivating", "stop-sigkill"): "STOPPING",
    ("deactivating", "stop"): "STOPPING",
    ("failed", "failed"): "FATAL",
    ("inactive", "dead"): "STOPPED",
}
START_LIMIT_LINE = "Start request repeated too quickly"  # systemd's journal, when the start limit refuses


def unit_info(props: dict[str, str]) -> dict[str, Any]:
    """A unit's properties (`systemctl show --timestamp=unix`) as supervisord's
    getProcessInfo gives a program: `statename` (SYSTEMD_STATES), `pid`, `stop` (epoch
    seconds of the main process's last exit, 0: none), `exitstatus`, `shown`, the state in
    systemd's words, and `restarts` (NRestarts): systemd forgets a main process's exit
    time once it starts the next one, so exits are counted by restarts too."""
    active, sub = props.get("ActiveState", ""), props.get("SubState", "")
    exited = props.get("ExecMainExitTimestamp", "").lstrip("@")
    shown = f"{active} ({sub})" if active != "failed" else f"failed (Result: {props.get('Result', '?')})"
    return {
        "statename": SYSTEMD_STATES.get((active, sub), "STARTING" if active == "activating" else "EXITED"),
        "pid": int(props.get("MainPID") or 0),
        "stop": int(float(exited)) if exited.replace(".", "", 1).isdigit() else 0,
        "exitstatus": props.get("ExecMainStatus"),
        "shown": shown,
        "restarts": int(props["NRestarts"]) if props.get("NRestarts", "").isdigit() else None,
    }


class Systemd:
    """systemd as PID 1: `systemctl` and the unit's properties (systemd.service(5))."""

    def systemctl(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=timeout, check=False)

    def info(self, program: str) -> dict[str, Any]:
        """The unit as supervisord's getProcessInfo would give it, with `shown`: the state
        in systemd's words ("failed (Result: exit-code)")."""
        out = self.systemctl("show", f"{program}.service", "--timestamp=unix", "-p",
                             "ActiveState,SubState,Result,MainPID,ExecMainExitTimestamp,ExecMainStatus,NRestarts").stdout
        return unit_info(dict(line.split("=", 1) for line in out.splitlines() if "=" in line))

    def state(self, program: str) -> str:
        return str(self.info(program)["statename"])

    def hup(self, program: str) -> bool:
        return self.systemctl("reload", f"{program}.service").returncode == 0

    def stop(self, program: str) -> str:
        """`systemctl stop` waits for the unit: SIGTERM, then SIGKILL after TimeoutStopSec.
        Returns a note when systemd had to SIGKILL it (Result=timeout)."""
        self.systemctl("stop", f"{program}.service")
        props = self.systemctl("show", f"{program}.service", "-p", "Result,TimeoutStopUSec").stdout
        found = dict(line.split("=", 1) for line in props.splitlines() if "=" in line)
        if found.get("Result") == "timeout":
            return f"SIGKILL after TimeoutStopSec={found.get('TimeoutStopUSec', '?')}"
        return ""

    def start(self, program: str, wait: bool = True) -> str:
        """`systemctl start`, always waited for: a simple service's start job ends once its
        process is running, and only then does a refusal show. Raises DeployError when
        systemd refuses the start (its start limit): the host, not the release, said no."""
        asked = time.time()
        proc = self.systemctl("start", f"{program}.service")
        if proc.returncode == 0:
            return "started"
        refused = self.refused(program, asked - 1)
        if refused:
            raise DeployError(refused)
        return f"did not start ({' | '.join(tail_lines(proc.stderr, 1)) or 'no reason given'})"

    def refused(self, program: str, since: float) -> str | None:
        """Why systemd refused to start the unit since `since` (epoch seconds): its start
        limit (StartLimitBurst starts within StartLimitIntervalSec), or None."""
        proc = subprocess.run(["journalctl", "-u", f"{program}.service", "--since", f"@{since:.0f}", "-o", "cat",
                               "--no-pager"], capture_output=True, text=True, timeout=30, check=False)
        if START_LIMIT_LINE in proc.stdout:
            return (f"systemd refused to start {program}: {START_LIMIT_LINE.lower()} (its start limit; "
                    f"`systemctl reset-failed {program}` clears it)")
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def swap(layout: Layout, rid: str) -> None:
    """Point `current` at a release with one rename(2), so no reader sees it missing."""
    tmp = layout.root / "current.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(Path("releases") / rid)
    os.replace(tmp, layout.current)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class UnixTransport(xmlrpc.client.Transport):
    """XML-RPC to supervisord over its unix socket, without spawning supervisorctl."""

    def __init__(self, socket_path: str) -> None:
        super().__init__()
        self.socket_path = socket_path

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        return UnixHTTPConnection(self.socket_path, timeout=60.0)


def http_get(socket_path: Path, path: str, timeout: float = 2.0) -> tuple[int, str]:
    conn = UnixHTTPConnection(str(socket_path), timeout)
    try:
        conn.request("GET", path, headers={"Host": "localhost"})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


class Host:
    """The web host's releases, processes and database, as the deploy tool sees them."""

    def __init__(self, layout: Layout, target: TargetCommands, log: DeployLog) -> None:
        self.layout = layout
        self.target = target
        self.log = log

    # releases

    def release_ids(self) -> list[str]:
        if not self.layout.releases.is_dir():
            return []
        return sorted((p.name for p in self.layout.releases.iterdir() if p.is_dir()), key=release_sort_key)

    def current(self) -> str | None:
        try:
            return Path(os.readlink(self.layout.current)).name
        except OSError:
            return None

    def bad(self) -> set[str]:
        return {r for r in self.release_ids() if (self.layout.releases / r / "BAD").exists()}

    def revision(self, rid: str) -> str | None:
        """The release name a directory was created from (its REVISION file), if known."""
        try:
            return (self.layout.releases / rid / "REVISION").read_text().strip() or None
        except OSError:
            return None

    def name_of(self, rid: str) -> str:
        return self.revision(rid) or "?"

    def ref(self, rid: str) -> ReleaseRef:
        return ReleaseRef(self.revision(rid), rid)

    def builds(self) -> list[str]:
        return sorted(p.name for p in self.layout.builds.iterdir() if p.is_dir())

    # commands

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env_file = self.layout.shared / ".env"
        if env_file.exists():
            for line in env_file.read_text().splitlines():
                key, sep, value = line.partition("=")
                if sep and not key.strip().startswith("#"):
                    env[key.strip()] = value.strip()
        return env

    def run(self, argv: list[str], cwd: Path | None = None, timeout: float = 300) -> str:
        proc = subprocess.run(
            argv, cwd=cwd, env=self.env(), capture_output=True, text=True, timeout=timeout, check=False
        )
        output = (proc.stdout + proc.stderr).strip()
        if proc.returncode != 0:
            last = output.splitlines()[-3:] if output else []
            raise DeployError(f"{shlex.join(argv)} exited {proc.returncode}: {' | '.join(last)}")
        return output

    @property
    def processes(self) -> Supervisor | Systemd:
        if self.target.process_manager == "systemd":
            return Systemd()
        return Supervisor(self.layout.supervisor_socket)

    def state(self, program: str) -> str:
        return self.processes.state(program)

    def web_log_tail(self) -> list[str]:
        """The app server's last log lines, for a message; empty when unreadable."""
        path = self.layout.shared / "log" / "web.log"
        try:
            with path.open("rb") as fh:
                fh.seek(max(0, path.stat().st_size - 8192))
                return tail_lines(fh.read().decode(errors="replace"), WEB_LOG_LINES)
        except OSError:
            return []

    # steps

    def new_release_id(self) -> str:
        return release_id(datetime.now(UTC), self.release_ids())

    def create(self, name: str, rid: str) -> None:
        dest = self.layout.releases / rid
        shutil.copytree(self.layout.builds / name, dest, symlinks=True)
        (dest / "REVISION").write_text(name + "\n")

    def link_shared(self, rid: str) -> list[str]:
        dest = self.layout.releases / rid
        linked = []
        for entry in (".env", "storage", "log"):
            source = self.layout.shared / entry
            if source.exists() and not (dest / entry).exists():
                (dest / entry).symlink_to(source)
                linked.append(entry)
        return linked

    def build(self, rid: str) -> str:
        """Run the target's build commands in the new release directory, in order; the
        build cache is read-only at $GAMEDAY_BUILD_CACHE. Fails on the first that fails,
        with its last lines of output."""
        env = {**self.env(), "GAMEDAY_BUILD_CACHE": BUILD_CACHE, "GAMEDAY_RELEASE_DIR": str(self.layout.releases / rid)}
        done = []
        for command in self.target.build:
            started = time.monotonic()
            proc = subprocess.run(["sh", "-c", command], cwd=self.layout.releases / rid, env=env,
                                  capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
            if proc.returncode != 0:
                last = tail_lines(proc.stdout + proc.stderr, BUILD_LOG_LINES)
                raise DeployError(f"build: `{command}` exited {proc.returncode}: {' | '.join(last)}")
            done.append(f"{command.split()[0]} {time.monotonic() - started:.1f}s")
        return ", ".join(done)

    def snapshot(self, rid: str) -> Path:
        self.layout.snapshots.mkdir(parents=True, exist_ok=True)
        path = self.layout.snapshots / f"{rid}.dump"
        self.run(["pg_dump", "--format=custom", f"--file={path}"])
        return path

    def gate(self, rid: str) -> str:
        """Start the new release beside the live one and health-check it."""
        release_dir = self.layout.releases / rid
        sock = self.layout.run / f"gate-{rid}.sock"
        sock.unlink(missing_ok=True)
        argv = render(self.target.web, release=str(release_dir), socket=str(sock))
        proc: subprocess.Popen[bytes] | None = None
        deadline = time.monotonic() + GATE_TIMEOUT_S
        last = "no answer"
        unhealthy = 0
        try:
            with INTERRUPTS.shielded():  # an interrupt must not orphan the server
                # As the process manager will run it: a release that works only as root
                # must fail here, not after the swap.
                user = APP_USER if os.geteuid() == 0 else None
                proc = subprocess.Popen(
                    argv, cwd=release_dir, env=self.env(), stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, start_new_session=True, user=user, group=user,
                    extra_groups=[] if user else None,
                )
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise DeployError(f"health gate: the release's web server exited {proc.returncode}")
                try:
                    status, body = http_get(sock, self.target.gate_path)
                except OSError as exc:
                    last = f"no answer ({exc.__class__.__name__})"
                else:
                    if status == 200:
                        return f"{self.target.gate_path} answered 200"
                    last = f"{status} {summarize_health(body)}"
                    unhealthy += 1
                    if unhealthy >= GATE_FAILURES:
                        break
                time.sleep(0.2)
            raise DeployError(f"health gate: {self.target.gate_path} not healthy: {last}")
        finally:
            with INTERRUPTS.shielded():
                if proc is not None and proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait()
                sock.unlink(missing_ok=True)

    def reload(self) -> str:
        """HUP the app server (new workers, old ones finish) and restart the worker.

        An app server that is not running is started instead. The worker gets
        supervisord's stop timeout to finish its job, then SIGKILL.
        """
        processes = self.processes
        notes = []
        state = self.state("web")
        if state == "RUNNING" and processes.hup("web"):
            notes.append("web: HUP")
        else:
            if state in ("STARTING", "BACKOFF"):
                # Crash-looping on the release being left (the manager is starting it, or
                # waiting to retry): a HUP would reach a server still loading that
                # release. Start it afresh from `current` now.
                processes.stop("web")
            notes.append(f"web: {state}, {processes.start('web')}")
        if self.target.worker is None:
            return "; ".join(notes)
        # STARTING and BACKOFF too: a worker of the release being left that supervisord is
        # still starting (startsecs) would otherwise go on with that release's code.
        if self.state("worker") in ("RUNNING", "STARTING", "BACKOFF"):
            started = time.monotonic()
            killed = processes.stop("worker")
            notes.append(f"worker: stopped in {time.monotonic() - started:.2f}s" + (f" ({killed})" if killed else ""))
        # Not waited for: the deploy goes on while the manager counts startsecs, and a
        # worker that cannot start shows as BACKOFF, then FATAL (hygiene, process states).
        notes.append(f"worker: {processes.start('worker', wait=False)}")
        return "; ".join(notes)

    def verify(self, rid: str, reloaded_at: float) -> str:
        """Wait until the live app server answers from the release `current` names.

        Fails at once when supervisord shows the app server cannot boot, and trusts an
        answer only once the server has settled (see `ServerWatch`); `reloaded_at` (epoch
        seconds) is when the reload began. VERIFY_TIMEOUT_S caps the wait.
        """
        sock = self.layout.run / "web.sock"
        deadline = time.monotonic() + VERIFY_TIMEOUT_S
        seen = "no answer"
        watch = ServerWatch(reloaded_at)
        # Without a version path the best evidence is a healthy answer from the new server.
        path, wanted = (self.target.version_path, rid) if self.target.version_path else (self.target.health_path, "200")
        while True:
            try:
                status, body = http_get(sock, path)
                if self.target.version_path:
                    seen = json.loads(body).get("release", body) if status == 200 else f"{status}"
                else:
                    seen = str(status)
            except (OSError, ValueError) as exc:
                seen = f"no answer ({exc.__class__.__name__})"
            try:
                info = self.processes.info("web")
            except (OSError, xmlrpc.client.Error, subprocess.SubprocessError):
                info = None
            refused = self.processes.refused("web", reloaded_at) if info and info["statename"] == "FATAL" else None
            if refused:
                raise DeployError(refused)
            why = None if info is None else watch.observe(info, time.monotonic())
            if why:
                lines = self.web_log_tail()
                log_note = f" (last log lines: {' | '.join(lines)})" if lines else ""
                raise DeployError(f"{why}: the release could not boot{log_note}")
            if seen == wanted and watch.settled(time.monotonic()):
                return f"{path} serves {rid}" if self.target.version_path else f"{path} answers 200 (no version path)"
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        raise DeployError(f"after the swap {path} answers {seen}, not {wanted}")

    def revert_db(self, abandoned: str, target: str) -> str:
        """Undo the abandoned release's schema: its down migration, else its snapshot."""
        abandoned_dir = self.layout.releases / abandoned
        if self.target.down_migrate:
            argv = render(self.target.down_migrate, target=str(self.layout.releases / target))
            out = self.run(argv, cwd=abandoned_dir)
            return out.replace("\n", ", ") or "nothing to revert"
        dump = self.layout.snapshots / f"{abandoned}.dump"
        if not dump.exists():
            raise DeployError(f"no down migration and no snapshot {dump}")
        self.run(["pg_restore", "--clean", "--if-exists", "--single-transaction",
                  f"--dbname={self.env().get('PGDATABASE', '')}", str(dump)])
        return f"restored {dump.name}"

    def retain(self, keep: int) -> list[str]:
        ordered = self.release_ids()
        current = self.current()
        previous = previous_release(ordered, current, self.bad())
        doomed = releases_to_remove(ordered, current, previous, keep)
        for rid in doomed:
            shutil.rmtree(self.layout.releases / rid, ignore_errors=True)
            (self.layout.snapshots / f"{rid}.dump").unlink(missing_ok=True)
        return doomed


# --- commands ---------------------------------------------------------------------


@dataclass
class Held:
    """What a held lock is about; a deploy names the release directory once it has one."""

    ref: ReleaseRef


@contextmanager
def locked(host: Host, action: str, ref: ReleaseRef) -> Iterator[Held]:
    """Hold the deploy lock; it is released however the body ends, signals included."""
    lock = Lock(host.layout.lock)
    held = Held(ref)
    acquired = False
    try:
        with host.log.step("lock", ref) as detail:
            with INTERRUPTS.shielded():
                note = lock.acquire(action)
                acquired = True
            if note:
                detail.append(note)
        yield held
    finally:
        if acquired:
            with INTERRUPTS.shielded(), host.log.step("unlock", held.ref):
                lock.release()


def deploy(host: Host, name: str, gate: bool, keep: int) -> int:
    if name not in host.builds():
        raise DeployError(f"unknown release {name!r}; known: {', '.join(host.builds())}", EXIT_USAGE)
    with locked(host, "deploy", ReleaseRef(name)) as held:
        rid = host.new_release_id()
        ref = held.ref = ReleaseRef(name, rid)
        migration = Migration.NOT_RUN
        try:
            with host.log.step("release", ref) as detail:
                host.create(name, rid)
                detail.append(f"{name} -> releases/{rid}")
            with host.log.step("shared", ref) as detail:
                detail.append("linked " + ", ".join(host.link_shared(rid)))
            if host.target.build:
                with host.log.step("build", ref) as detail:
                    detail.append(host.build(rid))
            with host.log.step("snapshot", ref) as detail:
                detail.append(host.snapshot(rid).name)
            migration = Migration.STARTED
            with host.log.step("migrate", ref) as detail:
                output = host.run(render(host.target.migrate), cwd=host.layout.releases / rid)
                detail.append(output.replace("\n", ", ") or "no pending migrations")
            migration = Migration.COMMITTED
            if gate:
                with host.log.step("gate", ref) as detail:
                    detail.append(host.gate(rid))
            else:
                host.log.write("gate", ref, True, 0.0, "skipped (--no-gate)")
            with INTERRUPTS.shielded(), host.log.step("swap", ref) as detail:
                before = host.current()
                swap(host.layout, rid)
                detail.append(f"current: {before or '(none yet)'} -> {rid}")
            reloaded_at = time.time()
            with host.log.step("reload", ref) as detail:
                detail.append(host.reload())
            with host.log.step("verify", ref) as detail:
                detail.append(host.verify(rid, reloaded_at))
        except DeployError as exc:
            with INTERRUPTS.shielded():  # the cleanup runs to its end; a signal waits for it
                if host.current() != rid:
                    abort(host, ref, migration)
                elif isinstance(exc, Interrupted):
                    host.log.write("interrupted", ref, False, 0.0,
                                   f"{exc.signame} after the swap: {name} (releases/{rid}) is live; "
                                   "`deploy rollback` swaps back")
            raise
    with host.log.step("retain", ref) as detail:
        removed = host.retain(keep)
        detail.append(f"kept {keep}; removed {', '.join(removed) or 'none'}")
    return 0


def abort(host: Host, ref: ReleaseRef, migration: Migration) -> None:
    """Abandon a release that never went live; `abort_plan` decides what stays.

    A migration that ran is first reverted with the release's own down migration (or
    its snapshot), to the schema of the live release.
    """
    rid = str(ref.dir)
    current = host.current()
    reverted = False
    if needs_revert(migration):
        try:
            with host.log.step("revert_db", ref) as detail:
                if current is None:
                    raise DeployError("no live release to revert the schema to")
                detail.append(host.revert_db(rid, current))
            reverted = True
        except DeployError:
            pass  # the step logged why; the plan keeps the release
    plan = abort_plan(migration, reverted)
    notes = [plan.detail]
    ok = plan.ok
    started = time.monotonic()
    try:
        if plan.remove_release:
            shutil.rmtree(host.layout.releases / rid, ignore_errors=True)
            notes.append(f"removed releases/{rid}")
        else:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            (host.layout.releases / rid / "BAD").write_text(f"{plan.bad_reason} at {stamp}\n")
    except OSError as exc:
        notes.append(f"{type(exc).__name__}: {exc}")
        ok = False
    notes.append(f"current stays {current}")
    host.log.write("abort", ref, ok, time.monotonic() - started, "; ".join(notes))


def rollback_refusal(target: str, current: str, target_bad: bool) -> str | None:
    """Why a rollback to `target` must not run, or None: a rollback goes back to an older
    release that was not rolled back from; anything else is a deploy."""
    if release_sort_key(target) > release_sort_key(current):
        return f"{target} is newer than the current {current}: that is a deploy, not a rollback"
    if target_bad:
        return f"{target} is marked bad (it was rolled back from); deploy it again if you mean to"
    return None


def resolve(host: Host, wanted: str) -> str:
    ids = host.release_ids()
    if wanted in ids:
        return wanted
    named = [r for r in ids if host.name_of(r) == wanted and r != host.current()]
    if named:
        return named[-1]
    raise DeployError(f"no release {wanted!r} on this host; see `releases`", EXIT_USAGE)


def rollback(host: Host, wanted: str | None, db: bool, db_only: bool) -> int:
    current = host.current()
    if current is None:
        raise DeployError("nothing is deployed yet", EXIT_USAGE)
    if db_only:
        newer = [r for r in host.release_ids() if release_sort_key(r) > release_sort_key(current)]
        bad_newer = [r for r in newer if r in host.bad()]
        if not bad_newer:
            raise DeployError("--db-only: no abandoned release newer than the current one", EXIT_USAGE)
        abandoned = bad_newer[-1]
        with locked(host, "rollback", host.ref(current)):
            with host.log.step("db", host.ref(abandoned)) as detail:
                detail.append(host.revert_db(abandoned, current))
        return 0
    if wanted is not None:
        target = resolve(host, wanted)
    else:
        found = previous_release(host.release_ids(), current, host.bad())
        if found is None:
            raise DeployError(f"no good release before {current} to roll back to", EXIT_USAGE)
        target = found
    if target == current:
        raise DeployError(f"{target} is already current", EXIT_USAGE)
    refusal = rollback_refusal(target, current, target in host.bad())
    if refusal:
        raise DeployError(refusal, EXIT_USAGE)
    ref = host.ref(target)
    with locked(host, "rollback", ref):
        with host.log.step("swap", ref) as detail:
            swap(host.layout, target)
            detail.append(f"current: {current} -> {target}")
        reloaded_at = time.time()
        with host.log.step("reload", ref) as detail:
            detail.append(host.reload())
        with host.log.step("mark_bad", host.ref(current)) as detail:
            (host.layout.releases / current / "BAD").write_text(
                f"rolled back to {target} at {datetime.now(UTC).isoformat(timespec='seconds')}\n"
            )
            detail.append(f"{current} marked bad")
        with host.log.step("verify", ref) as detail:
            detail.append(host.verify(target, reloaded_at))
        if db:
            with host.log.step("db", host.ref(current)) as detail:
                detail.append(host.revert_db(current, target))
    return 0


def list_releases(host: Host, as_json: bool) -> int:
    current = host.current()
    bad = host.bad()
    rows = [
        {"release": r, "name": host.name_of(r), "current": r == current, "bad": r in bad}
        for r in host.release_ids()
    ]
    if as_json:
        print(json.dumps({"current": current, "releases": rows}))
        return 0
    for row in rows:
        mark = "*" if row["current"] else " "
        status = "bad" if row["bad"] else ""
        print(f"{mark} {row['release']:<22} {row['name']:<16} {status}".rstrip())
    return 0


def summarize_health(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body[:200]
    failed = data.get("failed") or []
    checks = data.get("checks") or {}
    parts = [f"{name}: {checks.get(name, {}).get('detail', 'failed')}" for name in failed]
    return "failed " + "; ".join(parts) if parts else body[:200]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy", description=__doc__)
    parser.add_argument("--root", default=os.environ.get("GAMEDAY_APP_ROOT", "/srv/app"))
    parser.add_argument("--builds", default="/srv/builds")
    parser.add_argument("--run-dir", default="/run/app")
    parser.add_argument("--target-file", default="/etc/gameday/target.json")
    sub = parser.add_subparsers(dest="command", required=True)
    p_deploy = sub.add_parser("deploy", help="deploy a release")
    p_deploy.add_argument("release")
    p_deploy.add_argument("--no-gate", action="store_true", help="skip the health gate")
    p_deploy.add_argument("--keep", type=int, default=KEEP_RELEASES, help="releases to keep")
    p_rollback = sub.add_parser("rollback", help="go back to the previous (or a named) release")
    p_rollback.add_argument("release", nargs="?")
    p_rollback.add_argument("--db", action="store_true", help="also revert the abandoned release's schema")
    p_rollback.add_argument("--db-only", action="store_true",
                            help="revert the schema of the release last rolled back from")
    p_releases = sub.add_parser("releases", help="list releases")
    p_releases.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    layout = Layout(root=Path(args.root), builds=Path(args.builds), run=Path(args.run_dir))
    host = Host(layout, TargetCommands.load(Path(args.target_file)), DeployLog(layout.log, args.command))
    try:
        if args.command == "deploy":
            with INTERRUPTS.installed():
                return deploy(host, args.release, gate=not args.no_gate, keep=args.keep)
        if args.command == "rollback":
            return rollback(host, args.release, db=args.db, db_only=args.db_only)
        return list_releases(host, args.json)
    except DeployError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return INTERRUPTS.exit_code or exc.code


if __name__ == "__main__":
    sys.exit(main())
