"""The `errors` kind: the target's error switch fails requests for `duration_s` seconds.

The switch is a file in the web host the app reads (`run.error_switch`): gameday writes
the window into it, and removes it once the fault is over. No release changes, so a
rollback cannot undo it; the window closing is the recovery.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from harness.config.faultspec import FaultTraits
from harness.config.tables import Table
from harness.config.target import Target
from harness.errors import HarnessError
from harness.rehearsal.faults.base import Context, Injection, OneIncident
from harness.results.timeline import Event

# How far ahead an error window is scheduled, so the switch is in place before it opens.
SWITCH_LEAD_S = 0.5


@dataclass(frozen=True)
class ErrorsFault:
    """`kind = "errors"`: the error switch on for `duration_s` seconds, at `switch_path`."""

    duration_s: float
    switch_path: str
    kind: str = "errors"
    release: None = None
    traits: FaultTraits = FaultTraits(no_rollback="the fault is a switch, not a release")

    def explain(self, events: Sequence[Mapping[str, Any]], impact_seen: bool) -> str | None:
        return "the target's error switch failed requests for the fault's window" if impact_seen else None

    def advise(self, objective: str) -> str | None:
        return None


def parse(t: Table, target: Target) -> ErrorsFault:
    if target.run.error_switch is None:
        raise t.error("kind", f"'errors' needs a target with an error switch; {target.name} has none")
    duration = float(t.number("duration_s", required=True, positive=True, maximum=3600) or 0)
    return ErrorsFault(duration, target.run.error_switch)


@contextmanager
def injected(context: Context, fault: ErrorsFault) -> Iterator[Injection]:
    environment, timeline = context.environment, context.timeline
    start = round(context.clock.now() + SWITCH_LEAD_S, 6)  # as the timeline keeps it
    until = start + fault.duration_s
    environment.write_file(fault.switch_path, json.dumps({"from": start, "until": until}))
    timeline.record(Event.FAULT_INJECTED, ts=start, kind=fault.kind, until=until)
    try:
        yield Injection(fault, start, timeline)
    finally:
        try:
            environment.remove_file(fault.switch_path)
            timeline.record(Event.FAULT_REMOVED, kind=fault.kind)
        except HarnessError as exc:
            timeline.record(Event.FAULT_NOT_REMOVED, kind=fault.kind, detail=str(exc))


class Errors(OneIncident):
    name = "errors"
    spec = ErrorsFault

    def parse(self, table: Table, target: Target) -> ErrorsFault:
        return parse(table, target)

    def injected(self, context: Context, fault: ErrorsFault) -> AbstractContextManager[Injection]:
        return injected(context, fault)
