"""Graceful draining, measured: for every reload of the app server while the load ran,
the requests it had in flight and what became of them, and the jobs the worker had in
progress. Pure: the deploy log's `reload` steps, the request records and the app's job
events give the same table every time.

A request is in flight at a reload when it started before the reload began and ended
after. It completed when it did not fail; it was cut when it failed without an answer
from the app (the connection reset: status 0) or with the proxy's 502, 503 or 504.

A job is in progress at a reload when the app logged `job_started` for it before the
reload began and no `job_done` from the same worker before then (the app's JSON log,
`"event"`, `"ts"`, `"job"` and `"worker"`); see `jobs_at`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from harness.results.deploylog import DeployStep
from harness.results.model import CutRequest, Drain, DrainedJobs
from harness.results.records import Record

CUT_STATUSES = frozenset({0, 502, 503, 504})
# A cut this close to the graceful timeout (or later) came from the timeout itself.
TIMEOUT_SLACK_S = 1.0
RELOAD_STEP = "reload"


def _rel(ts: float, t0: float | None) -> float | None:
    return None if t0 is None else round(ts - t0, 3)


def drains(deploy_log: Iterable[DeployStep], records: Sequence[Record], t0: float | None,
           graceful_timeout_s: float | None, app_log: Sequence[dict[str, Any]] = ()) -> tuple[Drain, ...]:
    """One row per `reload` step that began while requests were recorded."""
    job_events = [e for e in app_log if e.get("event") in ("job_started", "job_done") and "job" in e and "ts" in e]
    if not records:
        return ()
    first, last = min(r.ts for r in records), max(r.ts + r.latency_ms / 1000 for r in records)
    found = []
    for step in deploy_log:
        began = step.started
        if step.step != RELOAD_STEP or not first <= began <= last:
            continue
        in_flight = [r for r in records if r.ts < began < r.ts + r.latency_ms / 1000]
        cut = [r for r in in_flight if r.failed and r.status in CUT_STATUSES]
        other = [r for r in in_flight if r.failed and r.status not in CUT_STATUSES]
        cut_requests = tuple(sorted(
            (CutRequest(r.name, _rel(r.ts, t0), round(began - r.ts, 3),
                        round(r.ts + r.latency_ms / 1000 - began, 3), r.status) for r in cut),
            key=lambda c: c.ran_s))
        found.append(Drain(step.action, step.release, _rel(began, t0), step.duration_s, len(in_flight),
                           len(in_flight) - len(cut) - len(other), len(cut), len(other), cut_requests,
                           why(cut_requests, graceful_timeout_s), jobs_at(job_events, began)))
    return tuple(found)


def jobs_at(events: Sequence[dict[str, Any]], began: float) -> DrainedJobs | None:
    """What became of the jobs in progress at `began`; None without job events."""
    if not events:
        return None
    started: dict[Any, tuple[float, Any]] = {}  # job -> (ts, worker) of its latest start before `began`
    done_before: set[tuple[Any, Any]] = set()
    for e in sorted(events, key=lambda e: float(e["ts"])):
        ts, job, worker = float(e["ts"]), e["job"], e.get("worker")
        if ts >= began:
            break
        if e["event"] == "job_started":
            started[job] = (ts, worker)
        else:
            done_before.add((job, worker))
    in_progress = {job: worker for job, (_, worker) in started.items() if (job, worker) not in done_before}
    completed = requeued = lost = doubled = 0
    for job, worker in in_progress.items():
        after = [e for e in events if e["job"] == job and float(e["ts"]) >= began]
        dones = [e for e in events if e["job"] == job and e["event"] == "job_done"]
        if any(e["event"] == "job_done" and e.get("worker") == worker for e in after):
            completed += 1
        elif any(e["event"] == "job_started" and e.get("worker") != worker for e in after):
            requeued += 1
        if not dones:
            lost += 1
        doubled += len(dones) > 1
    return DrainedJobs(len(in_progress), completed, requeued, lost, doubled)


def why(cut: Sequence[CutRequest], graceful_timeout_s: float | None) -> str:
    """Why the cut requests were cut, in one sentence."""
    if not cut:
        return "every request in flight finished"
    ended = sorted(c.ended_s for c in cut)
    when = f"{ended[0]:.1f} s" if ended[-1] - ended[0] < 0.5 else f"{ended[0]:.1f} to {ended[-1]:.1f} s"
    at_timeout = graceful_timeout_s is not None and ended[0] >= graceful_timeout_s - TIMEOUT_SLACK_S
    if not at_timeout:
        return f"{len(cut)} cut {when} after the reload began, when the old workers were stopped"
    return (f"{len(cut)} cut {when} after the reload began: each needed longer than the app server's graceful "
            f"timeout ({graceful_timeout_s:g} s) to finish, and the old workers were killed at its end")
