"""The timeline: events appended to timeline.jsonl as they happen, through one clock."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from harness.redaction import redact

Clock = Callable[[], float]


class Event(StrEnum):
    """Every event a rehearsal records, past tense; the value is the line's `event`."""

    # the replica
    REPLICA_STARTED = "replica_started"
    REPLICA_UNREADABLE = "replica_unreadable"
    LOAD_LOST = "load_lost"  # the load generator stopped making load: `cause`, and `at` (epoch s)
    INSTRUMENT_FAILED = "instrument_failed"  # a detector's check could not run (a streak begins)
    INSTRUMENT_LOST = "instrument_lost"  # ... and kept failing: the run cannot be judged
    REPLICA_REMOVING = "replica_removing"
    # the phases and what the watch saw
    PHASE_STARTED = "phase_started"
    ALARM_RAISED = "alarm_raised"
    PROBE_CHANGED = "probe_changed"
    # the fault
    FAULT_INJECTED = "fault_injected"
    DEPLOY_FINISHED = "deploy_finished"
    BLOCKER_STARTED = "blocker_started"
    DEPLOY_INTERRUPTED = "deploy_interrupted"
    DEPLOY_FAILED_TO_RUN = "deploy_failed_to_run"
    FAULT_SIGNALLED = "fault_signalled"  # a process fault's follow-up signal (CONT after STOP, or `then`)
    FAULT_REMOVED = "fault_removed"
    FAULT_NOT_REMOVED = "fault_not_removed"
    # detection and recovery
    DETECTION_TIMED_OUT = "detection_timed_out"
    LIVE_CHECKED = "live_checked"
    PROCESSES_CHECKED = "processes_checked"
    ROLLBACK_STARTED = "rollback_started"
    ROLLBACK_FINISHED = "rollback_finished"
    ROLLBACK_FAILED = "rollback_failed"
    ROLLBACK_SKIPPED = "rollback_skipped"
    CODE_ROLLBACK_NOT_RECOVERED = "code_rollback_not_recovered"
    ERRORS_PERSIST = "errors_persist"
    RECOVERY_VERIFIED = "recovery_verified"
    RECOVERY_TIMED_OUT = "recovery_timed_out"
    OPERATOR_COMMAND = "operator_command"
    # a plan's rollout and its compatibility matrix
    PLAN_STEP_STARTED = "plan_step_started"
    PLAN_STEP_FINISHED = "plan_step_finished"
    PLAN_STEP_SETTLED = "plan_step_settled"
    SCHEMA_STATE_SAVED = "schema_state_saved"
    SCHEMA_STATE_RESTORED = "schema_state_restored"
    # the clean-round-trip check
    SCHEMA_FINGERPRINTED = "schema_fingerprinted"
    MATRIX_CELL_MEASURED = "matrix_cell_measured"
    MATRIX_CELL_SKIPPED = "matrix_cell_skipped"
    # a flag fault's rounds
    ROUND_STARTED = "round_started"
    ROUND_FINISHED = "round_finished"
    # after the load
    JOBS_COUNTED = "jobs_counted"
    HYGIENE_CHECKED = "hygiene_checked"
    RESULT_WRITTEN = "result_written"
    RUN_INTERRUPTED = "run_interrupted"


class Timeline:
    """Appends `{"ts": …, "event": …}` lines and flushes each one; thread-safe.

    A line that cannot be written (a full disk) is kept in memory, with the error in
    `write_error`; nothing more is appended after it, so the file stays whole up to its
    last complete line, and `rewrite` puts the whole timeline back once it can."""

    def __init__(self, path: Path, clock: Clock = time.time) -> None:
        self.path = path
        self.clock = clock
        self.events: list[dict[str, Any]] = []
        self.write_error: OSError | None = None
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._out = path.open("a", encoding="utf-8")

    def record(self, event: Event | str, ts: float | None = None, **fields: Any) -> dict[str, Any]:
        """Append `{"ts": ts or now, "event": event, **fields}`; returns the entry.

        A plain string is accepted while callers move to `Event`; the line is the same.
        """
        entry = redact({"ts": round(self.clock() if ts is None else ts, 6), "event": str(event), **fields})
        with self._lock:
            self.events.append(entry)
            if self.write_error is None:
                try:
                    self._out.write(json.dumps(entry) + "\n")
                    self._out.flush()
                except OSError as exc:
                    self.write_error = exc
        return entry

    def first(self, event: Event | str) -> dict[str, Any] | None:
        with self._lock:
            return next((e for e in self.events if e["event"] == event), None)

    def close(self) -> None:
        with self._lock:
            try:
                self._out.close()
            except OSError as exc:
                self.write_error = self.write_error or exc

    def rewrite(self) -> None:
        """After a write error: the whole timeline, written beside the file and renamed over
        it (the torn file stays when even that fails). Raises OSError."""
        with self._lock:
            if self.write_error is None:
                return
            text = "".join(json.dumps(e) + "\n" for e in self.events)
        tmp = self.path.with_suffix(".jsonl.tmp")
        try:
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(self.path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        self.write_error = None


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


@dataclass(frozen=True)
class TimelineFile:
    """A timeline.jsonl read back: its events, and the lines that are not events, as
    `line N: why` (`torn`: the last line stops mid-way, as a crash or a full disk leaves it)."""

    events: list[dict[str, Any]]
    damaged: tuple[str, ...] = ()
    torn: bool = False


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def event_problem(value: object) -> str | None:
    """Why a parsed line is not a timeline event, or None: an object with a finite `ts`, an
    `event` name, and numbers where the timeline keeps times (`at`, `…_ts`) and statuses."""
    if not isinstance(value, dict):
        return f"is not a JSON object but {type(value).__name__}"
    if not _number(value.get("ts")):
        return f"ts must be a number of seconds, got {str(value.get('ts'))[:40]!r}"
    if not isinstance(value.get("event"), str) or not value["event"]:
        return "event must name what happened"
    for key, item in value.items():
        timed = key == "at" or key.endswith("_ts")
        if timed and item is not None and not _number(item):
            return f"{key} must be a number of seconds, got {str(item)[:40]!r}"
        if key == "exit_status" and item is not None and (isinstance(item, bool) or not isinstance(item, int)):
            return f"exit_status must be a whole number, got {str(item)[:40]!r}"
    return None


def read_timeline(path: Path) -> TimelineFile:
    """Every event in a timeline file, with the lines that are damaged named; a missing
    file is an empty timeline. Raises OSError when it cannot be read."""
    if not path.exists():
        return TimelineFile([])
    events: list[dict[str, Any]] = []
    damaged: list[str] = []
    torn = False
    with path.open(encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            if not line.endswith("\n"):
                torn = True
                break
            if not line.strip():
                continue
            try:
                value = json.loads(line, parse_constant=lambda c: float("nan"))
            except (ValueError, RecursionError):
                damaged.append(f"line {number}: is not JSON")
                continue
            problem = event_problem(value)
            if problem is None:
                events.append(value)
            else:
                damaged.append(f"line {number}: {problem}")
    return TimelineFile(events, tuple(damaged), torn)
