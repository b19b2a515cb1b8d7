import dataclasses
import json
from datetime import UTC, datetime

import pytest

from harness.rehearsal.catalogue import find_scenario
from harness.results.deploylog import DeployStep
from harness.results.files import write_json
from harness.results.measure import Observed, first_rollback_span, measure
from harness.results.model import Outcome
from harness.results.records import Record
from harness.results.recovery import recovered_at, recovery_commands

T0 = 1_800_000_000.0


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def log(action: str, step: str, end: float, duration: float = 0.01, ok: bool = True,
        detail: str = "") -> DeployStep:
    return DeployStep.from_json({"ts": iso(T0 + end), "action": action, "step": step, "release": "r2", "ok": ok,
                                 "duration_s": duration, "detail": detail})


def traffic(start: float, end: float, bad_from: float | None = None, bad_until: float | None = None) -> list[Record]:
    """50 req/s from start to end (seconds after T0), failing in [bad_from, bad_until)."""
    records = []
    n = int((end - start) * 50)
    for i in range(n):
        ts = T0 + start + i / 50
        bad = bad_from is not None and bad_until is not None and T0 + bad_from <= ts < T0 + bad_until
        records.append(Record(ts, 500 if bad else 200, 10.0, bad, "GET /orders", "status 500" if bad else "", "r1"))
    return records


def observed(deploy_log: list[dict], timeline: list[dict], **kw) -> Observed:
    defaults = dict(run_id="run", started_at=T0 - 10, finished_at=T0 + 30, t0=T0, timeline=timeline,
                    deploy_log=deploy_log, releases={"before": "r1", "deployed": "r2", "after": "r1"},
                    jobs={"enqueued": 10, "completed": 10, "lost": 0, "duplicated": 0})
    defaults.update(kw)
    return Observed(**defaults)


def test_recovered_at_finds_the_first_stable_window():
    requests = [(float(t) / 10, 25 <= t < 30) for t in range(100)]
    assert recovered_at(requests, [], start=0.0, end=10.0, stable_s=2.0, allowed_rate=0.0) == 0.0
    assert recovered_at(requests, [], start=1.0, end=10.0, stable_s=2.0, allowed_rate=0.0) == 3.0


def test_recovered_at_waits_for_every_probe_to_be_green():
    requests = [(float(t) / 10, False) for t in range(100)]
    probes = [(1.0, False), (4.0, True)]
    assert recovered_at(requests, probes, start=1.0, end=10.0, stable_s=2.0, allowed_rate=0.0) == 4.0


def test_recovered_at_is_none_without_a_full_window():
    requests = [(float(t) / 10, t < 95) for t in range(100)]
    assert recovered_at(requests, [], start=0.0, end=10.0, stable_s=2.0, allowed_rate=0.0) is None


def test_measure_times_an_incident_from_the_records_timeline_and_deploy_log():
    scenario = find_scenario("failing-health-check-no-gate")
    deploy_log = [
        log("deploy", "release", 0.05, detail="bad-health -> releases/r2"),
        log("deploy", "swap", 0.5),
        log("rollback", "lock", 1.2, 0.001),
        log("rollback", "swap", 1.21),
        log("rollback", "unlock", 1.5, 0.001),
    ]
    timeline = [{"ts": T0, "event": "fault_injected"},
                {"ts": T0 + 0.62, "event": "alarm_raised", "detector": "error_rate", "detail": "3/3"}]
    records = traffic(-5, 10, bad_from=0.5, bad_until=1.4)
    result = measure(scenario, observed(deploy_log, timeline), records)
    assert result.schema == 1 and result.outcome is Outcome.MET
    assert result.times.impact_s == 0.5
    assert result.times.detect_s == 0.62
    assert result.times.rollback_started_s == 1.199
    assert result.times.rollback_done_s == 1.5
    assert result.times.recovered_s == 1.4
    assert result.durations.to_json() == {"time_to_detect_s": 0.12, "time_to_rollback_s": 0.301,
                                          "time_to_recover_s": 0.9}
    assert result.requests.failed_in_incident == 45
    assert result.requests.total == len(records)
    assert result.detection.first_detector == "error_rate"
    assert {o.name for o in result.objectives} >= {"time_to_detect_s", "failed_requests", "lost_jobs"}
    assert result.started_at.endswith("Z")


def test_a_missed_target_is_a_gap_with_cause_and_advice():
    scenario = find_scenario("failing-health-check-no-gate")
    records = traffic(-5, 30, bad_from=0.5, bad_until=25)
    # The deploy ran without a gate, as its own event records (the advice reads it there).
    timeline = [{"ts": T0, "event": "fault_injected", "kind": "deploy", "release": "bad-health", "gate": False},
                {"ts": T0 + 20, "event": "alarm_raised", "detector": "health", "detail": "503"}]
    result = measure(scenario, observed([], timeline), records)
    assert result.outcome is Outcome.GAPS
    gaps = {g.name: g for g in result.gaps}
    assert gaps["time_to_detect_s"].measured == 19.5
    assert gaps["failed_requests"].cause and gaps["failed_requests"].advice
    assert "gate" in gaps["failed_requests"].advice
    # Never rolled back: null, not 0.
    assert result.times.rollback_started_s is None
    assert result.to_json()["durations"]["time_to_rollback_s"] is None


def test_nothing_that_did_not_happen_is_zero():
    scenario = find_scenario("clean-deploy")
    result = measure(scenario, observed([], []), traffic(-5, 10))
    assert result.outcome is Outcome.MET
    assert set(result.times.to_json().values()) == {None}
    assert set(result.durations.to_json().values()) == {None}


def test_a_false_alarm_before_the_fault_is_a_gap():
    scenario = find_scenario("clean-deploy")
    timeline = [{"ts": T0 - 3, "event": "alarm_raised", "detector": "health", "detail": "503"}]
    result = measure(scenario, observed([], timeline), traffic(-5, 10))
    assert result.detection.false_alarms == 1
    assert result.outcome is Outcome.GAPS


def test_an_aborted_run_still_has_a_result():
    scenario = find_scenario("bad-migration")
    result = measure(scenario, observed([], [], t0=None, outcome=Outcome.ABORTED, reason="interrupted", jobs=None),
                     [])
    assert result.outcome is Outcome.ABORTED and result.reason == "interrupted"
    assert result.requests.total == 0
    assert result.objective("time_to_detect_s").met is None  # a run that stopped early cannot say


def test_first_rollback_span_stops_at_the_next_command():
    entries = [log("rollback", "lock", 1.0, 0.001), log("rollback", "unlock", 1.4),
               log("rollback", "lock", 6.0), log("rollback", "db", 6.2), log("rollback", "unlock", 6.3)]
    started, done = first_rollback_span(entries, T0)
    assert round(started - T0, 3) == 0.999 and round(done - T0, 3) == 1.4


def test_write_json_replaces_atomically(tmp_path):
    path = tmp_path / "result.json"
    write_json(path, {"a": 1})
    write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_parts_a_target_does_not_have_are_null_and_not_judged():
    # A target without a job queue and without a release header, in a run with an incident.
    shop = find_scenario("failing-health-check-no-gate")
    scenario = dataclasses.replace(shop, target=dataclasses.replace(shop.target, queue=None))
    records = [r._replace(release="") for r in traffic(-5, 30, bad_from=0.5, bad_until=1.5)]
    timeline = [{"ts": T0 + 0.7, "event": "alarm_raised", "detector": "error_rate", "detail": "3/3"}]
    result = measure(scenario, observed([], timeline, jobs=None), records)
    lost_jobs = result.objective("lost_jobs")
    assert lost_jobs is not None and lost_jobs.measured is None and lost_jobs.met is None
    assert "lost_jobs" not in {g.name for g in result.gaps}
    assert result.jobs is None
    # Without a release header nobody can say which release answered: null, not 0.
    assert result.requests.served_by_deployed is None
    with_header = measure(scenario, observed([], timeline, jobs=None), traffic(-5, 30, bad_from=0.5, bad_until=1.5))
    assert with_header.requests.served_by_deployed == 0


def test_the_apps_most_frequent_error_is_counted_after_the_fault_only():
    from harness.results.measure import top_app_error

    log = [
        {"ts": 5.0, "event": "request_failed", "detail": "before the fault"},
        {"ts": 11.0, "event": "request_failed", "detail": "cached plan must not change result type\nmore"},
        {"ts": 12.0, "event": "request_failed", "detail": "cached plan must not change result type\nmore"},
        {"ts": 13.0, "event": "request_failed", "error": "ProgrammingError"},
        {"ts": "2026-11-29T10:00:00Z", "event": "request_failed", "detail": "a team's log with ISO times"},
        {"ts": 14.0, "event": "job_done"},
    ]
    assert top_app_error(log, 10.0) == ("cached plan must not change result type", 2)
    assert top_app_error(log, None) is None
    assert top_app_error([], 10.0) is None


def test_a_rollback_that_breaks_service_again_restarts_the_recovery_clock():
    # required-column's story: the old code fails between the migration and the swap, the
    # new release serves, then the planned rollback puts the old code back on the new
    # schema and it fails again until the database step.
    scenario = find_scenario("required-column")
    deploy_log = [log("deploy", "migrate", 0.45, 0.2), log("deploy", "swap", 0.95), log("deploy", "reload", 1.2, 0.2),
                  log("rollback", "swap", 6.1), log("rollback", "reload", 6.3, 0.2)]
    timeline = [{"ts": T0, "event": "fault_injected"},
                {"ts": T0 + 0.7, "event": "alarm_raised", "detector": "error_rate", "detail": "5/10"},
                {"ts": T0 + 1.3, "event": "deploy_finished", "exit_status": 0},
                {"ts": T0 + 6.0, "event": "live_checked", "went_live": True},
                {"ts": T0 + 6.0, "event": "rollback_started", "action": "rollback"},
                {"ts": T0 + 6.4, "event": "rollback_finished", "action": "rollback", "exit_status": 0},
                {"ts": T0 + 10.4, "event": "code_rollback_not_recovered"},
                {"ts": T0 + 10.4, "event": "rollback_started", "action": "db rollback"},
                {"ts": T0 + 10.9, "event": "rollback_finished", "action": "db rollback", "exit_status": 0}]
    records = [r._replace(status=500, failed=True, error="status 500") if T0 + 6.2 <= r.ts < T0 + 10.5
               else r for r in traffic(-5, 30, bad_from=0.5, bad_until=1.0)]
    result = measure(scenario, observed(deploy_log, timeline), records)
    # Not the lull while the new release served: service held only after the db step.
    assert result.times.recovered_s == pytest.approx(10.5, abs=0.03)
    assert result.incident.recovered_without_rollback is False
    cause = result.incident.cause or ""
    assert "25 requests failed or stalled between its migration and the swap" in cause, cause
    assert "then service recovered while it was still live" in cause
    assert "the rollback broke service again: 215 requests failed" in cause, cause
    assert "the code rollback alone did not recover" in cause


def test_one_slow_request_in_a_later_rollback_is_no_relapse():
    # Service came back by itself; the scheduled rollback's reload slowed one request. That
    # is below the steady-state bar, so recovery stays where it was.
    scenario = find_scenario("failing-health-check-no-gate")
    timeline = [{"ts": T0, "event": "fault_injected"},
                {"ts": T0 + 0.7, "event": "alarm_raised", "detector": "error_rate", "detail": "5/10"},
                {"ts": T0 + 6.0, "event": "rollback_started", "action": "rollback"},
                {"ts": T0 + 6.4, "event": "rollback_finished", "action": "rollback", "exit_status": 0}]
    records = [r._replace(latency_ms=5000.0) if abs(r.ts - (T0 + 6.2)) < 0.01 else r
               for r in traffic(-5, 30, bad_from=0.5, bad_until=1.0)]
    assert sum(r.latency_ms > 1000 for r in records) == 1
    result = measure(scenario, observed([], timeline), records)
    assert result.times.recovered_s == pytest.approx(1.0, abs=0.03)
    assert "broke service again" not in (result.incident.cause or "")


def test_recovery_commands_pair_each_start_with_its_end_and_leave_out_the_rerun():
    events = [{"ts": T0 - 1, "event": "rollback_started", "action": "rollback"},
              {"ts": T0 + 1, "event": "rollback_started", "action": "retry"},
              {"ts": T0 + 2, "event": "rollback_finished", "action": "retry"},
              {"ts": T0 + 3, "event": "rollback_started", "action": "rollback"},
              {"ts": T0 + 4, "event": "rollback_finished", "action": "rollback"},
              {"ts": T0 + 5, "event": "rollback_started", "action": "db rollback"}]
    assert recovery_commands(events, T0) == [(T0 + 3, T0 + 4), (T0 + 5, T0 + 5)]
