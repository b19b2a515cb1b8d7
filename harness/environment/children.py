"""The processes gameday starts on this machine (Locust, a team's deploy commands, a
nightly's runs): each leads a process group of its own, and every group ends with gameday,
however gameday ends.

Linux's parent-death signal reaches only the process gameday forks (a `/bin/sh`, not the
`cap` or `ssh` below it), and fires when the forking thread exits. So each group is also
handed to the reaper (harness/environment/reaper.py), a process that ends the groups it
holds when gameday's end of its stdin closes, SIGKILL included; and each is recorded in
the state directory (`processes/<pid>-<pgid>.json`), so that the next gameday command ends
what neither of them could (`sweep`).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harness.environment.reaper import ours
from harness.environment.state import alive, process_start, state_root, write_atomically

REAPER = Path(__file__).resolve().parent / "reaper.py"
PR_SET_PDEATHSIG = 1
# How long a group gets after SIGTERM before SIGKILL once gameday is gone.
GRACE_S = 3.0


def die_with_parent() -> None:
    """In the child: ask Linux for SIGTERM when gameday dies, even by SIGKILL."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def processes_root() -> Path:
    return state_root() / "processes"


@dataclass(frozen=True)
class GroupRecord:
    """A process group gameday started: its id (its leader's pid) and the leader's start
    time, and the gameday process that owns it, by pid and start time."""

    pgid: int
    start: int | None
    owner_pid: int
    owner_start: int | None
    host: str
    grace_s: float
    command: str

    def to_json(self) -> dict[str, Any]:
        return {"pgid": self.pgid, "start": self.start, "owner_pid": self.owner_pid,
                "owner_start": self.owner_start, "host": self.host, "grace_s": self.grace_s,
                "command": self.command}

    @classmethod
    def from_json(cls, data: object) -> GroupRecord | None:
        if not isinstance(data, dict):
            return None
        try:
            start, owner_start = data.get("start"), data.get("owner_start")
            return cls(int(data["pgid"]), None if start is None else int(start), int(data["owner_pid"]),
                       None if owner_start is None else int(owner_start), str(data["host"]),
                       float(data["grace_s"]), str(data.get("command", "")))
        except (KeyError, TypeError, ValueError):
            return None


class Reaper:
    """This process's reaper, started with the first group; one per gameday process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._pid = os.getpid()

    def _stdin(self) -> IO[str] | None:
        if self._proc is None or self._pid != os.getpid():
            self._pid = os.getpid()
            try:
                self._proc = subprocess.Popen(
                    [sys.executable, str(REAPER)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, text=True, start_new_session=True, close_fds=True)
            except OSError:
                self._proc = None  # the record in the state directory still lets the next command end it
        return None if self._proc is None else self._proc.stdin

    def send(self, line: str) -> None:
        with self._lock:
            stdin = self._stdin()
            if stdin is None:
                return
            try:
                stdin.write(line + "\n")
                stdin.flush()
            except (OSError, ValueError):
                pass


REAPER_OF_THIS_PROCESS = Reaper()


def _record_path(owner_pid: int, pgid: int) -> Path:
    return processes_root() / f"{owner_pid}-{pgid}.json"


def start(argv: Sequence[str], *, grace_s: float = GRACE_S, reaper: Reaper | None = None,
          **popen: Any) -> subprocess.Popen[Any]:
    """`subprocess.Popen(argv, **popen)` leading a new process group, recorded and handed to
    the reaper before this returns. Raises OSError as Popen does."""
    reaper = reaper or REAPER_OF_THIS_PROCESS
    proc: subprocess.Popen[Any] = subprocess.Popen(list(argv), start_new_session=True,
                                                   preexec_fn=die_with_parent, **popen)
    record = GroupRecord(proc.pid, process_start(proc.pid), os.getpid(), process_start(os.getpid()),
                         socket.gethostname(), grace_s, " ".join(argv)[:300])
    path = _record_path(record.owner_pid, record.pgid)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomically(path, json.dumps(record.to_json()) + "\n")
    except OSError:
        path = Path("-")  # a full disk: the reaper still ends it with gameday
    start_text = "-" if record.start is None else str(record.start)
    reaper.send(f"add {record.pgid} {start_text} {grace_s:g} {path}")
    return proc


def ended(proc: subprocess.Popen[Any], reaper: Reaper | None = None) -> None:
    """The group `proc` leads is done with: whatever is left in it is killed (an ssh, a
    background job), and neither the reaper nor a later sweep will touch that id again."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    (reaper or REAPER_OF_THIS_PROCESS).send(f"forget {proc.pid}")
    _record_path(os.getpid(), proc.pid).unlink(missing_ok=True)


def sweep(say: Callable[[str], None] | None = None) -> list[GroupRecord]:
    """End the groups whose gameday process is gone and whose reaper did not end them (it
    was killed too); returns them. Another live gameday's groups, and another machine's
    records in a shared home, are left alone."""
    ended_now: list[GroupRecord] = []
    try:
        paths = sorted(processes_root().glob("*.json"))
    except OSError:
        return []
    host = socket.gethostname()
    for path in paths:
        try:
            record = GroupRecord.from_json(json.loads(path.read_text()))
        except (OSError, ValueError):
            record = None
        if record is None:
            path.unlink(missing_ok=True)
            continue
        if record.host != host or alive(record.owner_pid, record.owner_start):
            continue
        if ours(record.pgid, record.start):
            try:
                os.killpg(record.pgid, signal.SIGKILL)
                ended_now.append(record)
                if say is not None:
                    say(f"ended process group {record.pgid} (`{record.command[:80]}`), left running by "
                        f"gameday process {record.owner_pid}, which is gone")
            except (ProcessLookupError, PermissionError):
                pass
        path.unlink(missing_ok=True)
    return ended_now
