"""The reaper: a small process, one per gameday process, that ends gameday's process groups
when gameday ends, however it ends (SIGKILL included). Run by path with gameday's Python;
it imports nothing from gameday.

It reads lines from its stdin, which only gameday holds open:

    add PGID START GRACE_S RECORD    a group to end: its leader's start time (clock ticks
                                     after boot, or -), the seconds SIGTERM may take before
                                     SIGKILL, and the state file to remove once it is gone
    forget PGID                      the group ended; nothing to do

At end of file (gameday exited, or was killed) it sends SIGTERM to every group it still
knows, SIGKILL to those alive after their grace, removes their records, and exits. It runs
in a session of its own, so a Ctrl-C at the terminal reaches gameday, not it.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def start_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ours(pgid: int, start: int | None) -> bool:
    """The group is still the one gameday started: its leader is the same process, or the
    leader is gone and the group lives on (Linux never reuses a pid a live group is named by)."""
    if not group_alive(pgid):
        return False
    leader = start_of(pgid)
    return leader is None or start is None or leader == start


def end_groups(groups: dict[int, tuple[int | None, float, str]]) -> None:
    """SIGTERM each live group, SIGKILL after its grace, then remove its record."""
    deadlines: dict[int, float] = {}
    for pgid, (start, grace_s, _) in groups.items():
        if ours(pgid, start):
            try:
                os.killpg(pgid, signal.SIGTERM)
                deadlines[pgid] = time.monotonic() + grace_s
            except (ProcessLookupError, PermissionError):
                pass
    while deadlines:
        now = time.monotonic()
        for pgid, deadline in list(deadlines.items()):
            if not group_alive(pgid):
                del deadlines[pgid]
            elif now >= deadline:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                del deadlines[pgid]
        time.sleep(0.05)
    for _, _, record in groups.values():
        if record and record != "-":
            try:
                os.unlink(record)
            except OSError:
                pass


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    groups: dict[int, tuple[int | None, float, str]] = {}
    for line in sys.stdin:
        words = line.rstrip("\n").split(" ", 4)  # the record's path may hold spaces
        try:
            if len(words) == 5 and words[0] == "add":
                start = None if words[2] == "-" else int(words[2])
                groups[int(words[1])] = (start, float(words[3]), words[4])
            elif len(words) == 2 and words[0] == "forget":
                groups.pop(int(words[1]), None)
        except ValueError:
            continue
    end_groups(groups)
    return 0


if __name__ == "__main__":
    sys.exit(main())
