"""The result: measured times, targets and gaps, computed from what the run recorded.

`measure` is pure: the same records, timeline and deploy log give the same result.json.
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.config.scenario import Scenario
from harness.results.records import Record

SCHEMA = 1


@dataclass(frozen=True)
class Observed:
    """Everything a run saw, as plain values, for `measure`."""

    run_id: str
    started_at: float
    finished_at: float
    t0: float | None
    timeline: Sequence[dict[str, Any]]
    deploy_log: Sequence[dict[str, Any]]
    releases: dict[str, str | None]
    jobs: dict[str, int] | None
    actions: Sequence[str] = ()
    code_rollback_recovered: bool | None = None
    outcome: str | None = None  # "aborted" or "error" when the run did not finish
    reason: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    hygiene: dict[str, Any] | None = None


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def rel(ts: float | None, t0: float | None) -> float | None:
    return None if ts is None or t0 is None else round(ts - t0, 3)


def diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 3)


def recovered_at(
    requests: Sequence[tuple[float, bool]],
    probe_changes: Sequence[tuple[float, bool]],
    start: float,
    end: float,
    stable_s: float,
    allowed_rate: float,
) -> float | None:
    """Start of the first `stable_s` window after `start` with the error rate at most
    `allowed_rate`, requests flowing and every probe green.

    `requests` are (ts, bad) sorted by ts; `probe_changes` are (ts, all_green) sorted.
    """
    times = [ts for ts, _ in requests]
    bad_prefix = [0]
    for _, is_bad in requests:
        bad_prefix.append(bad_prefix[-1] + int(is_bad))
    probe_times = [ts for ts, _ in probe_changes]

    def probes_green(a: float, b: float) -> bool:
        i = bisect.bisect_right(probe_times, a)
        if i > 0 and not probe_changes[i - 1][1]:
            return False
        j = bisect.bisect_right(probe_times, b)
        return all(green for _, green in probe_changes[i:j])

    candidates = {start} | {ts for ts, green in probe_changes if green and ts >= start}
    for k in range(1, len(requests)):
        if requests[k - 1][1] and not requests[k][1] and requests[k][0] >= start:
            candidates.add(requests[k][0])
    for s in sorted(candidates):
        if s + stable_s > end:
            break
        lo, hi = bisect.bisect_left(times, s), bisect.bisect_right(times, s + stable_s)
        total, bad_count = hi - lo, bad_prefix[hi] - bad_prefix[lo]
        if total and bad_count / total <= allowed_rate and probes_green(s, s + stable_s):
            return s
    return None


def first_rollback_span(deploy_log: Iterable[dict[str, Any]], t0: float | None) -> tuple[float | None, float | None]:
    """Start and end of the first rollback command after t0: from its lock to its unlock."""
    started = done = None
    for entry in deploy_log:
        end = parse_ts(entry["ts"])
        if t0 is None or end < t0 or entry.get("action") != "rollback":
            continue
        if entry.get("step") == "lock" and started is not None:
            break
        if started is None:
            started = end - float(entry.get("duration_s") or 0)
        done = end
    return started, done


def steps_of(deploy_log: Iterable[dict[str, Any]], t0: float | None) -> list[dict[str, Any]]:
    steps = []
    for entry in deploy_log:
        end = parse_ts(entry["ts"])
        if t0 is not None and end < t0:
            continue
        started = end - float(entry.get("duration_s") or 0)
        steps.append({
            "name": entry["step"], "action": entry.get("action"), "started_s": rel(started, t0),
            "duration_s": entry.get("duration_s"), "ok": bool(entry.get("ok")),
            "release": entry.get("release"), "detail": entry.get("detail", ""),
        })
    return steps


def failures_by_window(after: Sequence[tuple[float, bool]], steps: Sequence[dict[str, Any]],
                       t0: float | None) -> dict[str, int]:
    """Bad requests after t0, split by what the deploy log says was running then:
    between the deploy's migrate and its swap (old code, new schema), between the code
    rollback's swap and the db step (old code, schema not yet reverted), and the rest."""
    def span(action: str, first: str, last: str) -> tuple[float, float] | None:
        a = next((s for s in steps if s["action"] == action and s["name"] == first), None)
        b = next((s for s in steps if s["action"] == action and s["name"] == last
                  and a is not None and (s["started_s"] or 0) >= (a["started_s"] or 0)), None)
        if a is None or b is None or t0 is None:
            return None
        return t0 + a["started_s"], t0 + b["started_s"] + (b["duration_s"] or 0)

    windows = {"migrate_to_swap": span("deploy", "migrate", "swap"),
               "rollback_to_db_step": span("rollback", "swap", "db")}
    counts = {name: 0 for name in windows} | {"other": 0}
    for ts, bad in after:
        if not bad:
            continue
        name = next((n for n, w in windows.items() if w is not None and w[0] <= ts <= w[1]), "other")
        counts[name] += 1
    return counts


def advice_for(name: str, facts: dict[str, Any], scenario: Scenario) -> tuple[str, str]:
    """Cause and advice for a missed target, from what the run saw."""
    health = scenario.detectors.health
    if name == "time_to_detect_s":
        if facts["detect_s"] is None:
            cause = f"no detector raised an alarm within {scenario.phases.detect_timeout_s:g}s"
        else:
            cause = f"first alarm came from {facts['first_detector']} {facts['time_to_detect_s']}s after impact"
        if health is not None and health.interval_s * health.failures > (scenario.targets.time_to_detect_s or 0):
            wanted = max(1.0, (scenario.targets.time_to_detect_s or 1) / max(health.failures, 1) / 2)
            return cause, (f"the health poller checks every {health.interval_s:g}s; poll every {wanted:g}s "
                           "or alert on the request error rate")
        return cause, "alert on the request error rate over a short window (seconds, not minutes)"
    if name == "failed_requests":
        windows = facts["by_window"]
        if windows["migrate_to_swap"] or windows["rollback_to_db_step"]:
            parts = []
            if windows["migrate_to_swap"]:
                parts.append(f"{windows['migrate_to_swap']} between the migration and the swap, while the old "
                             "code ran on the new schema")
            if windows["rollback_to_db_step"]:
                parts.append(f"{windows['rollback_to_db_step']} after the code rollback until the database step, "
                             "because the old code still needed what the migration removed")
            if windows["other"]:
                parts.append(f"{windows['other']} at other times")
            return ("a destructive migration: requests failed " + "; ".join(parts),
                    "make migrations expand/contract in five steps: add the new shape, write both, backfill, "
                    "read the new one, and drop the old only once no release reads it; then a code rollback "
                    "is always safe")
        if facts["ungated"]:
            return ("the release went live without a health check", "gate the release on its health check "
                    "before the swap, so a failing release never takes traffic")
        return ("requests failed between the fault and recovery",
                "detect and roll back sooner; every second of detection costs requests")
    if name == "time_to_rollback_s":
        return ("the rollback command took longer than the target",
                "keep the previous release warm and reload gracefully; avoid slow steps in rollback")
    if name == "time_to_recover_s":
        if facts["code_rollback_recovered"] is False:
            return ("code rollback alone did not recover: the schema change stayed",
                    "make every migration backward compatible with the previous release, "
                    "or ship a tested down migration")
        if facts["recovered_s"] is None:
            return (f"no stable {scenario.phases.stable_s:g}s window within "
                    f"{scenario.phases.recover_timeout_s:g}s of the rollback", "find what kept failing after "
                    "the rollback in the timeline; the rollback did not restore service")
        return ("recovery took longer than the target", "detect sooner and roll back automatically on alarm")
    if name == "lost_jobs":
        return ("jobs enqueued during the run never completed",
                "make jobs survive a worker kill: process in a transaction, ack after the effect")
    return ("target missed", "")


def measure(scenario: Scenario, observed: Observed, records: Iterable[Record]) -> dict[str, Any]:
    t0 = observed.t0
    limit_ms = scenario.load.latency_limit_s * 1000
    total = failed = failed_after_t0 = 0
    baseline_total = baseline_bad = 0
    after: list[tuple[float, bool]] = []
    impact_ts: float | None = None
    impact_end_ts: float | None = None
    deployed = observed.releases.get("deployed")
    served_by_deployed = 0
    for record in records:
        total += 1
        served_by_deployed += bool(deployed) and record.release == deployed
        failed += record.failed
        bad = record.failed or record.latency_ms > limit_ms
        if t0 is None or record.ts < t0:
            baseline_total += 1
            baseline_bad += bad
            continue
        failed_after_t0 += record.failed
        after.append((record.ts, bad))
        if bad and (impact_ts is None or record.ts < impact_ts):
            impact_ts = record.ts
        if bad and (impact_end_ts is None or record.ts > impact_end_ts):
            impact_end_ts = record.ts
    after.sort()

    events = observed.timeline
    alarms = [e for e in events if e["event"] == "alarm_raised" and t0 is not None and e["ts"] >= t0]
    false_alarms = [e for e in events if e["event"] == "alarm_raised" and (t0 is None or e["ts"] < t0)]
    gate_aborts = [parse_ts(e["ts"]) for e in observed.deploy_log
                   if e.get("action") == "deploy" and e.get("step") == "gate" and not e.get("ok")]
    gate_aborts = [ts for ts in gate_aborts if t0 is not None and ts >= t0]
    detections = [(float(a["ts"]), str(a.get("detector"))) for a in alarms]
    detections += [(ts, "deploy gate") for ts in gate_aborts]
    detect_ts, first_detector = min(detections) if detections else (None, None)

    rollback_started, rollback_done = first_rollback_span(observed.deploy_log, t0)

    incident = impact_ts is not None or bool(alarms)
    recovered_ts = None
    if incident and t0 is not None:
        probe_state: dict[str, bool] = {}
        probe_changes = []
        for e in events:
            if e["event"] == "probe_changed":
                probe_state[str(e["detector"])] = bool(e["ok"])
                probe_changes.append((float(e["ts"]), all(probe_state.values())))
        allowed = baseline_bad / baseline_total if baseline_total else 0.0
        start = rollback_started if rollback_started is not None else (impact_ts or t0)
        end = after[-1][0] if after else observed.finished_at
        recovered_ts = recovered_at(after, probe_changes, start, end, scenario.phases.stable_s, allowed)

    incident_start = impact_ts if impact_ts is not None else t0
    times = {
        "impact_s": rel(impact_ts, t0),
        "detect_s": rel(detect_ts, t0),
        "rollback_started_s": rel(rollback_started, t0),
        "rollback_done_s": rel(rollback_done, t0),
        "recovered_s": rel(recovered_ts, t0),
        "impact_end_s": rel(impact_end_ts, t0),
    }
    durations = {
        "time_to_detect_s": diff(detect_ts, incident_start),
        "time_to_rollback_s": diff(rollback_done, rollback_started),
        "time_to_recover_s": diff(recovered_ts, incident_start),
    }
    steps = steps_of(observed.deploy_log, t0)
    by_window = failures_by_window(after, steps, t0)
    facts = {
        **times, **durations, "first_detector": first_detector, "by_window": by_window,
        "code_rollback_recovered": observed.code_rollback_recovered,
        "ungated": scenario.fault.kind == "deploy" and not scenario.fault.gate,
    }
    jobs = observed.jobs
    measured: dict[str, float | None] = {
        **durations,
        "failed_requests": float(failed_after_t0),
        "lost_jobs": float(jobs["lost"]) if jobs else None,
    }
    targets, gaps = [], []
    finished = observed.outcome is None
    for name, target in scenario.targets.items():
        value = measured.get(name)
        met: bool | None
        if value is not None:
            met = value <= target
        elif not finished:
            met = None  # a run that stopped early cannot say; unknown is not missed
        else:
            met = not incident and name != "lost_jobs"
        targets.append({"name": name, "target": target, "measured": value, "met": met})
        if met is False:
            cause, advice = advice_for(name, facts, scenario)
            gaps.append({"name": name, "target": target, "measured": value, "cause": cause, "advice": advice})
    if false_alarms:
        first_false = false_alarms[0]
        gaps.append({"name": "false_alarms", "target": 0, "measured": len(false_alarms),
                     "cause": f"{first_false.get('detector')} fired before the fault: {first_false.get('detail')}",
                     "advice": "raise the detector's threshold or window until the steady state is quiet"})

    hygiene = observed.hygiene
    if hygiene is not None and not hygiene["clean"]:
        gaps.append({"name": "hygiene", "target": 0, "measured": len(hygiene["findings"]),
                     "cause": "the run left a fault behind: " + "; ".join(hygiene["findings"]),
                     "advice": "make the fault's undo part of the runbook, and check for it after every rollback"})
    outcome = observed.outcome or ("met" if not gaps else "gaps")
    return {
        "schema": SCHEMA,
        "run_id": observed.run_id,
        "scenario": scenario.name,
        "description": scenario.description,
        "target": scenario.target.name,
        "outcome": outcome,
        "reason": observed.reason,
        "started_at": rfc3339(observed.started_at),
        "finished_at": rfc3339(observed.finished_at),
        "t0": rfc3339(t0) if t0 is not None else None,
        "releases": observed.releases,
        "times": times,
        "durations": durations,
        "requests": {"total": total, "failed": failed, "failed_in_incident": failed_after_t0,
                     "served_by_deployed": served_by_deployed if deployed else None,
                     "baseline_error_rate": round(baseline_bad / baseline_total, 4) if baseline_total else None,
                     "bad_by_window": by_window},
        "jobs": jobs,
        "recovery": {"actions": list(observed.actions), "code_rollback_recovered": observed.code_rollback_recovered},
        "detection": {"first_detector": first_detector, "alarms": len(alarms), "false_alarms": len(false_alarms)},
        "targets": targets,
        "gaps": gaps,
        "steps": steps,
        "hygiene": hygiene,
        "environment": observed.environment,
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write beside the file, then rename: a reader never sees half a result."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
