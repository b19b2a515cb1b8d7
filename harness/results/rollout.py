"""A plan's result from what its run recorded: the per-step table and the compatibility
matrix, from the timeline's plan and matrix events and the request records. Pure: the
same events and records give the same result.

A step's requests are those that started between its `plan_step_started` and its
`plan_step_settled`; a matrix cell's those that started inside its burst window.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from harness.results.model import MatrixCell, PlanResult, PlanStepResult, SchemaState
from harness.results.records import Record
from harness.results.timeline import Event

Window = tuple[float, float]


def p95(latencies: Sequence[float]) -> float | None:
    """The 95th percentile by the nearest-rank method (ms), or None without requests."""
    if not latencies:
        return None
    ordered = sorted(latencies)
    return round(ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)], 1)


def within(records: Sequence[Record], window: Window) -> list[Record]:
    return [r for r in records if window[0] <= r.ts < window[1]]


def sample(failed: Sequence[Record]) -> str:
    """The most common failure among `failed`, as a person would name it."""
    if not failed:
        return ""
    (status, name, error), _ = Counter((r.status, r.name, r.error) for r in failed).most_common(1)[0]
    return f"HTTP {status} on {name}" if status else f"no answer on {name}: {error}"


def _actions(events: Sequence[dict[str, Any]]) -> dict[tuple[int, str], dict[str, dict[str, Any]]]:
    """(step index, action) → its started, finished and settled events."""
    kinds = {Event.PLAN_STEP_STARTED: "started", Event.PLAN_STEP_FINISHED: "finished",
             Event.PLAN_STEP_SETTLED: "settled"}
    found: dict[tuple[int, str], dict[str, dict[str, Any]]] = {}
    for event in events:
        kind = kinds.get(event["event"])
        if kind is not None:
            found.setdefault((int(event["index"]), str(event["action"])), {})[kind] = event
    return found


def _window(action: dict[str, dict[str, Any]], end: float) -> Window | None:
    started = action.get("started")
    if started is None:
        return None
    settled = action.get("settled") or action.get("finished")
    return float(started["ts"]), float(settled["ts"]) if settled is not None else end


def plan_steps(events: Sequence[dict[str, Any]], records: Sequence[Record], t0: float | None,
               start_release: str) -> tuple[PlanStepResult, ...]:
    """One row per step that started: its deploy's requests, p95 and duration, and whether
    its rollback and roll-forward kept every request."""
    actions = _actions(events)
    end = max((r.ts for r in records), default=0.0) + 1
    rows = []
    previous = start_release
    last_window: Window | None = None  # the previous step's last action's window
    for index in sorted({i for i, _ in actions}):
        deploy = actions.get((index, "deploy"), {})
        started = deploy.get("started")
        if started is None:
            continue
        finished = deploy.get("finished")
        window = _window(deploy, end)
        assert window is not None
        seen = within(records, window)
        failed = [r for r in seen if r.failed]
        release, name = str(started["release"]), str(started["step"])
        exit_status = None if finished is None else int(finished["exit_status"])
        back, forth = actions.get((index, "rollback")), actions.get((index, "forward"))
        rb_requests = rb_failed = None
        safe: bool | None = None
        if back is None:
            why = "not rolled back: the plan has round_trip = false"
        else:
            windows = [w for w in (_window(back, end), _window(forth or {}, end)) if w is not None]
            trip = [r for w in windows for r in within(records, w)]
            trip_failed = [r for r in trip if r.failed]
            rb_requests, rb_failed = len(trip), len(trip_failed)
            broken = next((a["finished"] for a in (back, forth or {}) if "finished" in a
                           and a["finished"].get("exit_status") != 0), None)
            if broken is not None:
                safe = False
                why = (f"no: `{broken.get('command') or back['started'].get('command')}` exited "
                       f"{broken.get('exit_status')}: {broken.get('detail') or 'no output'}")
            elif trip_failed:
                safe = False
                back_window = _window(back, end)
                back_failed = [r for r in within(records, back_window) if r.failed] if back_window else []
                if back_failed:
                    why = (f"no: {len(back_failed)} requests failed once {previous} was live again on the schema "
                           f"this step left ({sample(back_failed)})")
                else:
                    why = (f"no: back to {previous} served, but {rb_failed} requests failed when {release} was "
                           f"deployed again ({sample(trip_failed)})")
            elif not trip:
                safe = None
                why = "unknown: no request completed while it was rolled back and forward"
            else:
                safe = True
                why = f"yes: back to {previous} and forward again, all {rb_requests} requests served"
        rows.append(PlanStepResult(
            index=index, name=name, release=release,
            started_s=None if t0 is None else round(window[0] - t0, 3),
            duration_s=None if finished is None else round(float(finished["ts"]) - window[0], 3),
            deploy_exit_status=exit_status, requests=len(seen), failed=len(failed),
            p95_ms=p95([r.latency_ms for r in seen]), rollback_requests=rb_requests, rollback_failed=rb_failed,
            rollback_safe=safe, why=why, failure=sample(failed),
            failing_before=last_window is not None and any(r.failed for r in within(records, last_window))))
        previous = release
        last_window = next((w for w in (_window(a or {}, end) for a in (forth, back, deploy)) if w is not None),
                           None)
    return tuple(rows)


def schema_states(events: Sequence[dict[str, Any]]) -> tuple[SchemaState, ...]:
    """The states the plan passed through, the one before it first (not the end-of-plan
    copy the matrix restores from)."""
    return tuple(SchemaState(int(e["index"]), str(e["after"]), str(e.get("columns", "")))
                 for e in events if e["event"] == Event.SCHEMA_STATE_SAVED and not e.get("final"))


def matrix(events: Sequence[dict[str, Any]], records: Sequence[Record]) -> tuple[MatrixCell, ...]:
    """One cell per measured or skipped (release, state), in the order they ran."""
    cells = []
    for event in events:
        if event["event"] == Event.MATRIX_CELL_SKIPPED:
            cells.append(MatrixCell(str(event["release"]), int(event["state"]), 0, 0, None, str(event["reason"])))
        elif event["event"] == Event.MATRIX_CELL_MEASURED:
            seen = within(records, (float(event["from_ts"]), float(event["until_ts"])))
            failed = [r for r in seen if r.failed]
            if not seen:
                detail = "no request completed in the burst"
            elif failed:
                detail = f"{len(failed)} of {len(seen)} failed: {sample(failed)}"
            else:
                detail = f"{len(seen)} served"
            cells.append(MatrixCell(str(event["release"]), int(event["state"]), len(seen), len(failed),
                                    bool(seen) and not failed, detail))
    return tuple(cells)


def plan_result(events: Sequence[dict[str, Any]], records: Sequence[Record], matrix_records: Sequence[Record],
                t0: float | None, start_release: str) -> PlanResult:
    baseline = [r.latency_ms for r in records if t0 is not None and r.ts < t0]
    return PlanResult(plan_steps(events, records, t0, start_release), schema_states(events),
                      matrix(events, matrix_records), p95(baseline))


def first_failing_step(plan: PlanResult) -> PlanStepResult | None:
    """The step whose deploy first failed requests (or whose deploy command failed): the
    step that caused the plan's failures."""
    return next((s for s in plan.steps if s.failed or s.deploy_exit_status not in (0, None)), None)
