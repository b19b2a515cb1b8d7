"""The timeline: events appended to timeline.jsonl as they happen, through one clock."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Clock = Callable[[], float]


class Timeline:
    """Appends `{"ts": …, "event": …}` lines and flushes each one; thread-safe."""

    def __init__(self, path: Path, clock: Clock = time.time) -> None:
        self.path = path
        self.clock = clock
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._out = path.open("a", encoding="utf-8")

    def record(self, event: str, ts: float | None = None, **fields: Any) -> dict[str, Any]:
        entry = {"ts": round(self.clock() if ts is None else ts, 6), "event": event, **fields}
        with self._lock:
            self.events.append(entry)
            self._out.write(json.dumps(entry) + "\n")
            self._out.flush()
        return entry

    def first(self, event: str) -> dict[str, Any] | None:
        with self._lock:
            return next((e for e in self.events if e["event"] == event), None)

    def close(self) -> None:
        with self._lock:
            self._out.close()


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Objects from a JSON-lines file; a torn last line or a corrupt line is skipped."""
    if not path.exists():
        return
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                yield value
