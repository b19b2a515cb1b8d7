"""Request records: one line per request as the load generator saw it, written by
`harness/loadgen/recorder.py` and read back here, whole or as the file grows."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

# A run's request records, and those of a plan's compatibility matrix, in its directory.
RECORDS = "requests.jsonl"
MATRIX_RECORDS = "matrix-requests.jsonl"


class Record(NamedTuple):
    """One request as the load generator saw it; the field order is the file's."""

    ts: float
    status: int
    latency_ms: float
    failed: bool
    name: str = ""
    error: str = ""
    release: str = ""


def parse_record(line: str) -> Record | None:
    """The record on one line, or None for a line that is not one (torn, corrupt, or with a
    number that is not finite: NaN and Infinity are no time and no latency)."""
    try:
        ts, status, latency_ms, failed, name, error, release = json.loads(line)
        record = Record(float(ts), int(status), float(latency_ms), bool(failed), str(name), str(error),
                        str(release))
    except (ValueError, TypeError, RecursionError, OverflowError):
        return None
    return record if math.isfinite(record.ts) and math.isfinite(record.latency_ms) else None


def parse_numbers(line: str) -> tuple[float, int, float, bool] | None:
    """The leading numbers of a record line without parsing its strings: for big files."""
    parts = line[1:].split(",", 4)
    if len(parts) < 5 or not line.endswith("\n"):
        return None
    try:
        ts, latency_ms = float(parts[0]), float(parts[2])
        found = ts, int(parts[1]), latency_ms, parts[3].strip() == "1"
    except ValueError:
        return None
    return found if math.isfinite(ts) and math.isfinite(latency_ms) else None


class RecordTail:
    """Reads the records file as it grows; a torn last line waits for its end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""

    def read_new(self) -> list[Record]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        data = self.partial + chunk
        *lines, self.partial = data.split(b"\n")
        found = []
        for line in lines:
            record = parse_record(line.decode(errors="replace"))
            if record is not None:
                found.append(record)
        return found


def damaged_records(path: Path, limit: int = 3) -> tuple[int, list[str]]:
    """How many complete lines of a records file are not records, and the first `limit`
    of them as `line N: …` (a torn last line, what a crash leaves, is not counted)."""
    count, shown = 0, list[str]()
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                if line.endswith("\n") and line.strip() and parse_record(line) is None:
                    count += 1
                    if len(shown) < limit:
                        shown.append(f"line {number}: not a request record ({line.strip()[:60]!r})")
    except OSError:
        return 0, []
    return count, shown


def read_records(path: Path) -> Iterator[Record]:
    """Every complete record in a file, skipping a torn or corrupt line."""
    if not path.exists():
        return
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.endswith("\n"):
                record = parse_record(line)
                if record is not None:
                    yield record
