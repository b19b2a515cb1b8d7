"""The phases of a rehearsal: baseline, detect, recover, verify, drain. Each one waits on
the watch and records what it decided in the timeline and the run's notes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.config.scenario import Scenario
from harness.environment.replica import Replica, Staging
from harness.errors import HarnessError
from harness.rehearsal.faults import Injection
from harness.rehearsal.load import check_host
from harness.rehearsal.watch import Watch
from harness.results.measure import parse_ts
from harness.results.timeline import Timeline

DEPLOY_WAIT_S = 120.0
CODE_RECOVERY_CHECK_S = 2.0
VERIFY_MARGIN_S = 0.5


class BaselineFailed(HarnessError):
    """The steady state did not hold before the fault; the run is aborted, not failed."""


@dataclass
class Notes:
    """What the phases decided, for the result."""

    actions: list[str] = field(default_factory=list)
    code_rollback_recovered: bool | None = None


def baseline(watch: Watch, scenario: Scenario) -> None:
    watch.set_phase("baseline")
    watch.sleep(scenario.phases.baseline_s)
    stats = watch.stats(scenario.phases.baseline_s)
    if stats.total == 0:
        raise BaselineFailed("baseline: no request completed; the load generator is not reaching the replica")
    limit = scenario.detectors.error_rate.threshold if scenario.detectors.error_rate else 0.05
    if stats.error_rate >= limit:
        raise BaselineFailed(f"baseline: {stats.error_rate:.1%} of requests failed before any fault "
                             f"(limit {limit:.0%}); the steady state does not hold")
    red = watch.red_probes()
    if red:
        raise BaselineFailed(f"baseline: a probe is red before any fault ({'; '.join(red)})")


def detect(watch: Watch, scenario: Scenario, injection: Injection) -> None:
    """Wait for the first alarm, or the deploy's own gate aborting it, or the timeout."""
    watch.set_phase("detect")
    if scenario.recovery.trigger == "after":
        assert scenario.recovery.after_s is not None
        watch.wait_for(lambda: False, scenario.recovery.after_s)
        return

    def noticed() -> bool:
        return bool(watch.alarms_since(injection.t0)) or gate_aborted(injection)

    if not watch.wait_for(noticed, scenario.phases.detect_timeout_s):
        watch.timeline.record("detection_timed_out", after_s=scenario.phases.detect_timeout_s)


def gate_aborted(injection: Injection) -> bool:
    return injection.finished() and injection.result is not None and injection.result.exit_status != 0


def recover(
    watch: Watch, staging: Staging, replica: Replica, scenario: Scenario, injection: Injection, notes: Notes
) -> None:
    """Roll back with the deploy tool; add the db step when asked, or when code alone fails."""
    watch.set_phase("recover")
    watch.wait_for(injection.finished, DEPLOY_WAIT_S)
    if injection.plan.kind == "deploy" and gate_aborted(injection):
        watch.timeline.record("rollback_skipped", reason="the deploy aborted before the swap; nothing went live")
        return
    if injection.plan.kind == "errors":
        watch.timeline.record("rollback_skipped", reason="the fault is a switch, not a release")
        return
    if scenario.recovery.trigger == "alarm" and not watch.alarms_since(injection.t0):
        watch.timeline.record("rollback_skipped", reason="nothing detected the fault, so nobody rolled back")
        return
    command = ["rollback"] + (["--db"] if scenario.recovery.db == "always" else [])
    run_rollback(watch, staging, replica, command, notes)
    if scenario.recovery.db != "if-needed":
        return
    window = scenario.recovery.code_window_s
    check = min(CODE_RECOVERY_CHECK_S, window)
    if watch.wait_for(lambda: watch.clean_for(check), window):
        notes.code_rollback_recovered = True
        return
    notes.code_rollback_recovered = False
    watch.timeline.record("code_rollback_not_recovered", window_s=window)
    run_rollback(watch, staging, replica, ["rollback", "--db-only"], notes)


def run_rollback(watch: Watch, staging: Staging, replica: Replica, command: list[str], notes: Notes) -> None:
    watch.timeline.record("rollback_started", command=" ".join(command))
    result = staging.deploy_tool(replica, command)
    notes.actions.append(" ".join(command))
    watch.timeline.record("rollback_finished", command=" ".join(command), exit_status=result.exit_status,
                          detail=result.stderr.strip()[-300:])


def operate(
    watch: Watch,
    scenario: Scenario,
    replica: Replica,
    notes: Notes,
    tell: Callable[[str], None],
    operator_log: Callable[[], list[dict[str, Any]]],
) -> None:
    """Operator mode: a person notices and rolls back; their first command is the detection."""
    watch.set_phase("operator")
    db = " --db" if scenario.recovery.db == "always" else ""
    tell(f"The fault is in. When you notice it, roll back with:\n\n    gameday rollback --run {replica.run_id}{db}\n")
    seen = 0

    def rolled_back() -> bool:
        nonlocal seen
        entries = operator_log()
        for index in range(seen, len(entries)):
            entry = entries[index]
            if index == 0:
                watch.timeline.record("alarm_raised", ts=entry["ts"], detector="operator",
                                      detail=f"first command: gameday {entry['command']}", phase="operator")
            watch.timeline.record("operator_command", ts=entry["ts"], command=entry["command"])
            if entry["command"].startswith("rollback"):
                notes.actions.append(entry["command"])
        seen = len(entries)
        return any(e["command"].startswith("rollback") for e in entries) and watch.clean_for(1.0)

    watch.wait_for(rolled_back, scenario.phases.detect_timeout_s + scenario.phases.recover_timeout_s)


def verify(watch: Watch, scenario: Scenario) -> None:
    watch.set_phase("verify")
    # A little past stable_s, so the recorded requests cover a whole stable window.
    stable = scenario.phases.stable_s + VERIFY_MARGIN_S
    if not watch.wait_for(lambda: watch.clean_for(stable), scenario.phases.recover_timeout_s + stable):
        watch.timeline.record("recovery_timed_out", after_s=scenario.phases.recover_timeout_s)


def drain(staging: Staging, replica: Replica, scenario: Scenario, since: float,
          timeline: Timeline) -> dict[str, int] | None:
    """After the load stops, wait for the backlog to empty, then count the run's jobs."""
    queue = scenario.target.queue
    if queue is None:
        return None
    timeline.record("phase_started", phase="drain")
    sql = queue.jobs_sql.format(since=f"{since:.6f}")
    deadline = time.monotonic() + scenario.phases.drain_timeout_s
    while True:
        row = staging.sql(replica, scenario.target.database, sql)[0]
        enqueued, completed, duplicated = (int(v or 0) for v in row)
        counts = {"enqueued": enqueued, "completed": completed, "lost": enqueued - completed,
                  "duplicated": duplicated}
        if counts["lost"] == 0 or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    timeline.record("jobs_counted", **counts)
    return counts


def deployed_release(deploy_log: list[dict[str, Any]], t0: float | None) -> str | None:
    """The release directory the fault's deploy created, from its `release` step."""
    if t0 is None:
        return None
    for entry in deploy_log:
        if parse_ts(entry["ts"]) < t0:
            continue
        if entry.get("action") == "deploy" and entry.get("step") == "release" and entry.get("ok"):
            detail = str(entry.get("detail", ""))
            if "releases/" in detail:
                return detail.rsplit("releases/", 1)[1].strip()
    return None


def parse_deploy_log(text: str) -> list[dict[str, Any]]:
    """The deploy log's entries; a torn line (a step cut off mid-write) is skipped."""
    entries = []
    for line in text.splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


def hygiene(staging: Staging, replica: Replica, scenario: Scenario, timeline: Timeline,
            allow_remote: bool = False) -> dict[str, Any]:
    """After the run, before teardown: is every fault gone? Chaos tools often leave some."""
    findings = staging.hygiene(replica, scenario.target.run.error_switch)
    path = scenario.target.run.health_path
    try:
        resp = httpx.get(check_host(replica.url, allow_remote) + path, timeout=5)
        if resp.status_code != 200:
            findings.append(f"{path} answers {resp.status_code}: {resp.text[:200]}")
    except httpx.HTTPError as exc:
        findings.append(f"{path} does not answer: {type(exc).__name__}")
    checks = ["containers running, none paused", "no stopped (SIGSTOP) process", "supervisord programs running",
              "no deploy lock held", "no stray release", "error switch cleared", f"{path} healthy (worker alive)"]
    timeline.record("hygiene_checked", clean=not findings, findings=findings)
    return {"clean": not findings, "findings": findings, "checks": checks}
