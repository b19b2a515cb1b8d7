"""Faults: a plan as data, then the effect behind a context manager that undoes what it can."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from harness.config.scenario import Fault
from harness.environment.replica import Replica, Staging, ToolResult
from harness.errors import HarnessError
from harness.results.timeline import Timeline

# How far ahead an error window is scheduled, so the switch is in place before it opens.
SWITCH_LEAD_S = 0.5


@dataclass(frozen=True)
class FaultPlan:
    kind: str
    deploy_args: tuple[str, ...] = ()
    switch_path: str | None = None
    window: tuple[float, float] | None = None

    def describe(self) -> str:
        if self.kind == "deploy":
            return "deploy " + " ".join(self.deploy_args[1:])
        assert self.window is not None
        return f"errors for {self.window[1] - self.window[0]:g}s"


def plan(fault: Fault, error_switch: str | None, now: float) -> FaultPlan:
    if fault.kind == "deploy":
        assert fault.release is not None
        args = ("deploy", fault.release) + (() if fault.gate else ("--no-gate",))
        return FaultPlan("deploy", deploy_args=args)
    assert fault.duration_s is not None and error_switch is not None
    start = now + SWITCH_LEAD_S
    return FaultPlan("errors", switch_path=error_switch, window=(start, start + fault.duration_s))


@dataclass
class Injection:
    """A fault in progress: t0, and for a deploy its command's outcome once it ends."""

    plan: FaultPlan
    t0: float
    done: threading.Event = field(default_factory=threading.Event)
    result: ToolResult | None = None
    error: BaseException | None = None

    def finished(self) -> bool:
        return self.done.is_set()


@contextmanager
def injected(staging: Staging, replica: Replica, fault: FaultPlan, timeline: Timeline) -> Iterator[Injection]:
    if fault.kind == "deploy":
        yield from _deploying(staging, replica, fault, timeline)
    else:
        yield from _switching(staging, replica, fault, timeline)


def _deploying(staging: Staging, replica: Replica, fault: FaultPlan, timeline: Timeline) -> Iterator[Injection]:
    t0 = timeline.record("fault_injected", kind="deploy", command=" ".join(fault.deploy_args))["ts"]
    injection = Injection(fault, t0)

    def run() -> None:
        try:
            injection.result = staging.deploy_tool(replica, list(fault.deploy_args))
            timeline.record("deploy_finished", exit_status=injection.result.exit_status,
                            detail=injection.result.stderr.strip()[-300:])
        except BaseException as exc:  # reported by the phase that waits on it
            injection.error = exc
            timeline.record("deploy_finished", exit_status=None, detail=str(exc)[:300])
        finally:
            injection.done.set()

    thread = threading.Thread(target=run, name="fault-deploy", daemon=True)
    thread.start()
    try:
        yield injection
    finally:
        # A deploy cannot be cut off half-way; let it end before anything else happens.
        thread.join(timeout=120)


def _switching(staging: Staging, replica: Replica, fault: FaultPlan, timeline: Timeline) -> Iterator[Injection]:
    assert fault.switch_path is not None and fault.window is not None
    start, until = fault.window
    staging.write_file(replica, fault.switch_path, json.dumps({"from": start, "until": until}))
    timeline.record("fault_injected", ts=start, kind="errors", until=until)
    injection = Injection(fault, start)
    injection.done.set()
    try:
        yield injection
    finally:
        try:
            staging.remove_file(replica, fault.switch_path)
            timeline.record("fault_removed", kind="errors")
        except HarnessError as exc:
            timeline.record("fault_not_removed", kind="errors", detail=str(exc))
