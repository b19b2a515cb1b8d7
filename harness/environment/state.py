"""gameday's state directory on this machine: one directory per run id, claimed atomically
so no two runs share an id, holding who owns it (the run's SSH key lives there too).

    $GAMEDAY_STATE_DIR (else $XDG_STATE_HOME/gameday, else ~/.local/state/gameday)
      runs/<run id>/owner.json     {"pid", "pid_start", "host", "uid", "kind", "created"}
      runs/<run id>/id_ed25519 …   the replica's SSH key and client files
      processes/<pid>-<pgid>.json  a process group gameday started (harness.environment.children)

A run id is checked against `RUN_ID` before it becomes a path, and the path is resolved
inside `runs/`: nothing outside the state directory is ever removed from here.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.config.sources import user_dir
from harness.errors import HarnessError
from harness.results.runid import check_run_id, is_run_id

OWNER_FILE = "owner.json"
MAX_SUFFIX = 1000


def state_root() -> Path:
    """`$GAMEDAY_STATE_DIR`, else `$XDG_STATE_HOME/gameday` (default `~/.local/state/gameday`)."""
    return user_dir("GAMEDAY_STATE_DIR", "XDG_STATE_HOME", ".local/state")


def runs_root() -> Path:
    return state_root() / "runs"


def run_directory(run_id: str) -> Path:
    """The state directory of `run_id` (checked: InputError for anything else)."""
    check_run_id(run_id)
    root = runs_root()
    path = root / run_id
    # A run id has no slash and no dot, so this holds; checked anyway, as a last line.
    if path.parent != root or path.name != run_id:
        raise HarnessError(f"{run_id!r} does not name a directory inside {root}")
    return path


def process_start(pid: int) -> int | None:
    """When a process started, in clock ticks after boot (/proc/PID/stat, field 22), or
    None when there is no such process: with its pid, a process's identity (pids are reused)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(stat.rpartition(")")[2].split()[19])
    except (IndexError, ValueError):
        return None


def alive(pid: int, start: int | None) -> bool:
    """Whether the process `pid` that started at `start` (None: any) still runs."""
    found = process_start(pid)
    return found is not None and (start is None or found == start)


@dataclass(frozen=True)
class Owner:
    """Who holds a run id: a gameday process on a machine, as one user. `kind` is
    `rehearsal` (a run's id, held until its result is written), `run` (a replica of a
    live process, such as a nightly's pooled one) or `up` (a replica the user started and
    removes with `gameday down`)."""

    pid: int
    pid_start: int | None
    host: str
    uid: int
    kind: str
    created: float

    @classmethod
    def here(cls, kind: str) -> Owner:
        return cls(os.getpid(), process_start(os.getpid()), socket.gethostname(), os.getuid(), kind, time.time())

    @property
    def mine(self) -> bool:
        return self.pid == os.getpid() and self.host == socket.gethostname() and self.pid_start == \
            process_start(os.getpid())

    @property
    def gone(self) -> bool:
        """Its process has ended on this machine (never said of another machine's)."""
        return self.host == socket.gethostname() and not alive(self.pid, self.pid_start)

    def to_json(self) -> dict[str, object]:
        return {"pid": self.pid, "pid_start": self.pid_start, "host": self.host, "uid": self.uid,
                "kind": self.kind, "created": self.created}

    @classmethod
    def from_json(cls, data: object) -> Owner | None:
        if not isinstance(data, dict):
            return None
        try:
            start = data.get("pid_start")
            return cls(int(data["pid"]), None if start is None else int(start), str(data["host"]),
                       int(data["uid"]), str(data["kind"]), float(data["created"]))
        except (KeyError, TypeError, ValueError):
            return None


def write_atomically(path: Path, text: str) -> None:
    """Write beside `path`, then rename: a reader sees the old file or the new one, whole."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _take(run_id: str, owner: Owner) -> bool:
    """Make the run's directory, atomically; False when it exists already."""
    path = run_directory(run_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.mkdir(mode=0o700)
    except FileExistsError:
        return False
    except OSError as exc:
        raise HarnessError(f"{path.parent}: cannot claim a run id in gameday's state directory "
                           f"({exc.strerror})") from None
    try:
        write_atomically(path / OWNER_FILE, json.dumps(owner.to_json()) + "\n")
    except OSError as exc:
        shutil.rmtree(path, ignore_errors=True)
        raise HarnessError(f"{path}: cannot record the run's owner ({exc.strerror})") from None
    return True


def claim(base: str, kind: str = "run", also: Callable[[str], bool] = lambda run_id: True) -> str:
    """A run id of this machine's own: `base`, else `base-2`, `base-3`…, the first whose
    state directory this process made (and for which `also(run_id)` holds, such as
    making its reports directory). Raises HarnessError when none can be had."""
    check_run_id(base, "run id")
    owner = Owner.here(kind)
    for n in range(1, MAX_SUFFIX):
        run_id = base if n == 1 else f"{base}-{n}"
        if not _take(run_id, owner):
            continue
        try:
            taken = also(run_id)
        except BaseException:
            release(run_id)
            raise
        if taken:
            return run_id
        release(run_id)
    raise HarnessError(f"{runs_root()}: a thousand runs named {base} exist already")


def hold(run_id: str, kind: str) -> None:
    """`run_id` for this process: claimed now, or claimed by it before. Raises
    HarnessError when another process holds it."""
    if _take(run_id, Owner.here(kind)):
        return
    owner = owner_of(run_id)
    if owner is None or not owner.mine:
        who = "an unknown process" if owner is None else f"gameday process {owner.pid} on {owner.host}"
        raise HarnessError(f"run id {run_id} is in use by {who}")


def owner_of(run_id: str) -> Owner | None:
    try:
        return Owner.from_json(json.loads((run_directory(run_id) / OWNER_FILE).read_text()))
    except (OSError, ValueError):
        return None


def release(run_id: str) -> None:
    """Remove the run's state directory (its key included); nothing outside it."""
    shutil.rmtree(run_directory(run_id), ignore_errors=True)


REHEARSAL = "rehearsal"  # the kind of a rehearsal's own hold on its run id


def release_unless_rehearsing(run_id: str) -> None:
    """`release`, unless a rehearsal that still runs holds the id: it outlives its replica
    until the rehearsal has written its result."""
    owner = owner_of(run_id)
    if owner is not None and owner.kind == REHEARSAL and not owner.gone:
        return
    release(run_id)


def held_runs() -> list[str]:
    """Every run id with a state directory here; directories that are not run ids are left alone."""
    try:
        return sorted(p.name for p in runs_root().iterdir() if p.is_dir() and is_run_id(p.name))
    except OSError:
        return []
