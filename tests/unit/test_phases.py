"""The rehearsal's decisions, with a fake clock and fakes behind every seam: each test is
one way a deploy goes wrong, and asserts what the rehearsal did and when. No sleeps."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.config.scenario import Scenario
from harness.errors import LoadLost
from harness.rehearsal import phases, runbook
from harness.rehearsal.catalogue import find_scenario
from harness.rehearsal.watch import LOAD_CHECK_S, Watch
from harness.results.model import Result
from harness.results.records import Record
from harness.results.timeline import Event, Timeline, read_jsonl
from tests.unit.fakes import (
    FakeClock,
    FakeDeploy,
    FakeDeployer,
    FakeEnvironment,
    FakeProcesses,
    FakeRecords,
    Host,
    Step,
    break_schema,
    go_live,
    mend_schema,
    transport,
)


@dataclass
class Story:
    """One whole rehearsal (`runbook.rehearse`) on the fake stack, and what it wrote."""

    events: list[dict[str, Any]]
    notes: phases.Notes
    host: Host
    deployer: FakeDeployer
    t0: float
    records: list[Record]
    scenario: Scenario
    result: Result
    run_dir: Path
    error: str | None = None  # the HarnessError that ended the run, as the result's reason says

    def measured(self) -> Result:
        """The result the rehearsal wrote (result.json), read back."""
        return Result.from_json(json.loads((self.run_dir / "result.json").read_text()))

    def first(self, event: str, **match: Any) -> dict[str, Any] | None:
        return next((e for e in self.events if e["event"] == event and all(e.get(k) == v for k, v in match.items())),
                    None)

    def at(self, event: str, **match: Any) -> float:
        found = self.first(event, **match)
        assert found is not None, f"no {event} in {[e['event'] for e in self.events]}"
        return float(found["ts"]) - self.t0


def scenario(name: str = "failing-health-check-no-gate", **recovery: Any) -> Scenario:
    base = find_scenario(name)
    return dataclasses.replace(base, recovery=dataclasses.replace(base.recovery, **recovery))


def deploys(host: Host, clock: FakeClock, steps: list[Step], ends_at: float, exit_status: int,
            crash: str | None = None) -> Callable[[str, bool], FakeDeploy]:
    return lambda release, gate: FakeDeploy(host, clock, steps, ends_at, exit_status, crash)


@dataclass
class FakeLoad:
    """The load generator: requests come from `FakeRecords` as the clock moves; `lost(now)`
    stands for Locust's own state (`LoadProcess.lost`)."""

    clock: FakeClock
    lost_at: Callable[[float], tuple[float, str] | None] | None = None

    def lost(self) -> tuple[float, str] | None:
        return None if self.lost_at is None else self.lost_at(self.clock.now())


def rehearse(tmp_path: Path, chosen: Scenario, host: Host,
             plan: Callable[[FakeClock], Callable[[str, bool], FakeDeploy]],
             clock: FakeClock | None = None, rollback_fails: bool = False,
             load_lost: Callable[[float], tuple[float, str] | None] | None = None,
             operator: bool = False, say: Callable[[str], None] = lambda _: None) -> Story:
    """The whole rehearsal, `runbook.rehearse` itself, with a fake behind every seam: the
    environment, deployer, process manager, load, request records, HTTP and clock. The
    start release's deploy (bring-up) ends at once; `plan` makes the fault's."""
    clock = clock or FakeClock()
    environment = FakeEnvironment(host)
    faults = plan(clock)
    started: list[str] = []

    def deploy(release: str, gate: bool) -> FakeDeploy:
        if not started:  # the start release, deployed before the baseline
            started.append(release)
            first = FakeDeploy(host, clock, [], 0.0, 0)
            host.t0 = None  # outages count from the fault's deploy
            return first
        return faults(release, gate)

    deployer = FakeDeployer(host, clock, deploy, rollback_fails=rollback_fails)
    made: list[FakeRecords] = []

    def records(path: Path) -> FakeRecords:
        made.append(FakeRecords(host, clock, path))
        return made[-1]

    @contextmanager
    def provision(run_id: str, name: str, run_dir: Path) -> Iterator[FakeEnvironment]:
        yield environment

    load = FakeLoad(clock, load_lost)
    stack = runbook.Stack(provision=provision, deployer=lambda _: deployer, processes=lambda _: FakeProcesses(),
                          load=lambda plan, shape: nullcontext(load), records=records, http=transport(host, clock),
                          threaded=False)
    run_dir, result = runbook.rehearse(chosen, stack, tmp_path, clock=clock, say=say, operator=operator)
    deployer.calls.pop(0)  # the start release's deploy
    events = list(read_jsonl(run_dir / "timeline.jsonl"))
    injected = next((e for e in events if e["event"] == Event.FAULT_INJECTED), None)
    notes = phases.Notes(list(result.recovery.actions), result.recovery.code_rollback_recovered,
                         result.incident.went_live)
    error = result.reason if result.outcome == "error" else None
    return Story(events, notes, host, deployer, float(injected["ts"]) if injected else clock.now(),
                 made[0].emitted if made else [], chosen, result, run_dir, error)


def test_an_alarm_during_a_running_deploy_rolls_back_at_once(tmp_path):
    # Gate off, and the release cannot boot: it goes live at 0.1 s; the deploy's verify
    # would only give up at 15 s.
    host = Host(unbootable={"unbootable"})
    story = rehearse(tmp_path, scenario(db="if-needed"), host,
                     lambda clock: deploys(host, clock, [Step(0.1, go_live("r2", "unbootable"))], 15.0, 1))
    first_alarm = story.at("alarm_raised")
    assert first_alarm < 1.5
    assert story.at("rollback_started") - first_alarm < 1.0
    interrupted = story.first("deploy_interrupted")
    assert interrupted is not None and "SIGTERM" in interrupted["detail"]
    assert story.notes.went_live is True
    assert story.notes.code_rollback_recovered is True
    assert story.deployer.calls == ["deploy bad-health", "rollback"]
    assert host.current == "r1"
    assert story.first("recovery_verified") is not None
    assert story.first("rollback_skipped") is None
    result = story.measured()
    assert result.incident.went_live is True
    assert result.incident.deploy_interrupted is not None
    assert "could not boot" in (result.incident.cause or "")
    assert result.times.rollback_started_s == pytest.approx(story.at("rollback_started"), abs=0.001)


def test_a_deploy_that_swapped_and_then_failed_is_rolled_back(tmp_path):
    # The deploy exits non-zero at 0.3 s, after its swap: something went live.
    host = Host(unbootable={"bad"})
    chosen = scenario(db="never")
    story = rehearse(tmp_path, chosen, host,
                     lambda clock: deploys(host, clock, [Step(0.1, go_live("r2", "bad"))], 0.3, 1))
    assert story.notes.went_live is True
    assert story.deployer.calls == ["deploy bad-health", "rollback"]
    assert story.first("rollback_skipped") is None
    assert host.current == "r1"
    assert story.first("recovery_verified") is not None


def test_a_gate_abort_after_a_committed_migration_reverts_the_schema(tmp_path):
    # The migration commits at 0.2 s and breaks the live v1; the gate aborts at 1.5 s
    # without a swap and without reverting the schema.
    host = Host()
    story = rehearse(tmp_path, scenario(db="if-needed"), host,
                     lambda clock: deploys(host, clock, [Step(0.2, break_schema, logs="migrate")], 1.5, 1))
    assert story.notes.went_live is False
    skipped = story.first("rollback_skipped")
    assert skipped is not None and "did not go live" in skipped["reason"]
    assert story.first("errors_persist") is not None
    assert story.deployer.calls == ["deploy bad-health", "rollback --db-only"]
    assert not host.schema_broken
    assert story.at("rollback_started", action="db rollback") > 1.5
    assert story.first("recovery_verified") is not None
    cause = story.measured().incident.cause or ""
    assert "aborted after its migration committed" in cause and "nothing went live" in cause


def test_a_gate_abort_that_reverted_its_own_migration_needs_no_db_step(tmp_path):
    host = Host()
    story = rehearse(tmp_path, scenario(db="if-needed"), host,
                     lambda clock: deploys(host, clock, [Step(0.2, break_schema), Step(1.5, mend_schema)], 1.5, 1))
    assert story.deployer.calls == ["deploy bad-health"]
    assert story.first("errors_persist") is None
    assert story.first("recovery_verified") is not None


def test_a_code_rollback_that_does_not_recover_goes_on_to_the_db_step(tmp_path):
    # Migration at 0.2 s (old code breaks), swap at 0.8 s; v1 needs what the migration dropped.
    host = Host()
    steps = [Step(0.2, break_schema), Step(0.8, go_live("r2", "bad-migration"))]
    story = rehearse(tmp_path, scenario("bad-migration", db="if-needed"), host,
                     lambda clock: deploys(host, clock, steps, 5.0, 0))
    assert story.notes.went_live is True
    assert story.notes.code_rollback_recovered is False
    assert story.first("code_rollback_not_recovered") is not None
    assert story.deployer.calls == ["deploy bad-migration", "rollback", "rollback --db-only"]
    # The gate had not finished when the alarm came: the deploy's own gate decided until
    # its swap, and the rollback began at once after it.
    assert 0.8 <= story.at("rollback_started", action="rollback") < 1.0
    assert not host.schema_broken
    assert story.first("recovery_verified") is not None


def test_a_self_healing_outage_counts_as_recovered_without_any_rollback(tmp_path):
    # A v2 deploy goes well; nothing answers from 3.5 s to 6.5 s for reasons of its own.
    host = Host(outages=[(3.5, 6.5)])
    chosen = scenario("clean-deploy", trigger="after", after_s=12.0)
    story = rehearse(tmp_path, chosen, host,
                     lambda clock: deploys(host, clock, [Step(0.1, go_live("r2", "v2"))], 1.0, 0))
    verified = story.first("recovery_verified")
    assert verified is not None
    # Recovered when requests succeed again and the health probe has turned green (it polls every second).
    green = [e["ts"] - story.t0 for e in story.events if e["event"] == "probe_changed" and e["ok"]]
    assert 6.5 <= verified["recovered_ts"] - story.t0 < 6.5 + 1.2
    assert verified["recovered_ts"] - story.t0 == pytest.approx(min(t for t in green if t >= 6.5))
    # Service held from 6.5 s on, before the rollback at 12 s: no rollback was needed.
    assert verified["recovered_ts"] - story.t0 < story.at("rollback_started")
    # One definition of recovered: the result says what the live phase saw.
    result = story.measured()
    assert result.times.recovered_s == pytest.approx(verified["recovered_ts"] - story.t0, abs=0.001)
    assert result.incident.recovered_without_rollback is True
    assert "outside the deploy" in (result.incident.cause or "")


def test_an_outage_that_the_deploy_itself_caused_is_named_as_the_deploys(tmp_path):
    # The deploy's reload (at its end, 1.0 s) stops service until 1.8 s; it comes back on
    # its own, before the planned rollback: the deploy did it, not something outside.
    host = Host(outages=[(0.9, 1.8)])
    chosen = scenario("clean-deploy", trigger="after", after_s=8.0)
    story = rehearse(tmp_path, chosen, host,
                     lambda clock: deploys(host, clock, [Step(0.1, go_live("r2", "v2"))], 1.0, 0))
    result = story.measured()
    assert result.incident.recovered_without_rollback is True
    cause = result.incident.cause or ""
    assert "while its deploy ran" in cause and "outside" not in cause, cause


def test_operator_mode_takes_the_first_command_as_the_detection(tmp_path):
    host = Host(unbootable={"unbootable"})
    clock = FakeClock()

    def typed_at() -> float | None:
        return None if host.t0 is None else host.t0 + 2.0

    def person_rolls_back(now: float) -> None:
        at = typed_at()
        if at is not None and now >= at and host.current != "r1":
            host.current = "r1"

    clock.hooks.append(person_rolls_back)

    def person_types(now: float) -> None:
        # `gameday rollback --run` appends the command to the run's operator.jsonl.
        at = typed_at()
        log = next(tmp_path.glob("*/run.json")).parent / "operator.jsonl"
        if at is not None and now >= at and not log.exists():
            log.write_text(json.dumps({"ts": at, "command": "rollback"}) + "\n")

    clock.hooks.append(person_types)
    story = rehearse(tmp_path, scenario(mode="operator"), host,
                     lambda c: deploys(host, c, [Step(0.1, go_live("r2", "unbootable"))], 0.5, 0), clock=clock)
    assert story.at("alarm_raised", detector="operator") == pytest.approx(2.0)
    assert story.notes.actions == ["rollback"]
    assert story.first("recovery_verified") is not None
    assert story.deployer.calls == ["deploy bad-health"]  # gameday itself rolled nothing back
    result = story.measured()
    assert result.times.impact_s is not None and result.times.impact_s < 0.5
    # The detectors still watch and advise; the person's first command is the detection.
    assert result.detection.alarms >= 2
    assert result.detection.first_detector == "operator"
    assert result.times.detect_s == pytest.approx(2.0, abs=0.01)
    assert result.times.rollback_started_s == pytest.approx(2.0, abs=0.01)
    assert result.incident.went_live is True
    assert result.incident.recovered_without_rollback is False


def test_a_fault_whose_deploy_could_not_run_ends_the_run_as_an_error(tmp_path):
    host = Host()
    story = rehearse(tmp_path, scenario(), host,
                     lambda clock: deploys(host, clock, [], 0.5, 0, crash="docker went away"))
    assert story.result.outcome == "error"
    assert story.error is not None and "the fault's deploy could not run: docker went away" in story.error
    assert len([e for e in story.events if e["event"] == "deploy_failed_to_run"]) == 1
    assert story.result.incident.cause == "the fault's deploy could not run: docker went away"


def test_nobody_rolls_back_what_nobody_detected(tmp_path):
    host = Host()
    chosen = dataclasses.replace(scenario("clean-deploy"), phases=dataclasses.replace(
        find_scenario("clean-deploy").phases, detect_timeout_s=3.0))
    story = rehearse(tmp_path, dataclasses.replace(chosen, recovery=dataclasses.replace(chosen.recovery,
                                                                                        trigger="alarm")),
                     host, lambda clock: deploys(host, clock, [Step(0.1, go_live("r2", "v2"))], 1.0, 0))
    skipped = story.first("rollback_skipped")
    assert skipped is not None and "nothing detected" in skipped["reason"]
    assert story.deployer.calls == ["deploy v2"]
    assert host.current == "r2"


def test_a_deploy_that_hangs_before_its_swap_is_interrupted_and_the_schema_reverted(tmp_path):
    # The migration commits at 0.2 s, then the deploy hangs (a gate that never answers).
    host = Host()
    story = rehearse(tmp_path, scenario(db="if-needed"), host,
                     lambda clock: deploys(host, clock, [Step(0.2, break_schema, logs="migrate")], 600.0, 0))
    interrupted = story.at("deploy_interrupted")
    assert interrupted - story.at("alarm_raised") <= phases.PRE_SWAP_WAIT_S + 0.5
    assert story.notes.went_live is False
    assert story.deployer.calls == ["deploy bad-health", "rollback --db-only"]
    assert story.first("recovery_verified") is not None


def test_a_rollback_that_fails_is_not_followed_by_the_db_step(tmp_path):
    host = Host(unbootable={"unbootable"})
    story = rehearse(tmp_path, scenario(db="if-needed", code_window_s=2.0), host,
                     lambda clock: deploys(host, clock, [Step(0.1, go_live("r2", "unbootable"))], 15.0, 1),
                     rollback_fails=True)
    assert story.first("rollback_failed") is not None
    assert story.deployer.calls == ["deploy bad-health", "rollback"]
    assert story.first("recovery_timed_out") is not None
    result = story.measured()
    cause = result.incident.cause or ""
    assert "rollback command failed" in cause and "did not recover" in cause
    # A rollback that failed has no end to time: not "met" for taking no time at all.
    assert result.times.rollback_started_s is not None and result.durations.time_to_rollback_s is None
    gap = next(g for g in result.gaps if g.name == "time_to_rollback_s")
    assert gap.measured is None and gap.cause.startswith("the rollback did not finish")


def test_a_failed_rollback_falls_back_to_redeploying_the_start_release(tmp_path):
    # The rollback command is refused; with fallback = "redeploy" the known-good release is
    # deployed again as a new release, and recovery is timed to it.
    host = Host(unbootable={"unbootable"})
    chosen = scenario("unbootable-release", db="never", fallback="redeploy")
    per_release = {"unbootable": Step(0.1, go_live("r2", "unbootable")), "v1": Step(0.2, go_live("r3", "v1"))}
    story = rehearse(tmp_path, chosen, host,
                     lambda clock: lambda release, gate: FakeDeploy(host, clock, [per_release[release]],
                                                                    15.0 if release == "unbootable" else 0.5,
                                                                    1 if release == "unbootable" else 0),
                     rollback_fails=True)
    assert story.deployer.calls == ["deploy unbootable", "rollback", "deploy v1"]
    assert host.current == "r3"
    assert [e["action"] for e in story.events if e["event"] == "rollback_started"] == ["rollback", "redeploy"]
    # The process manager's states are on record on both sides of the rollback.
    assert [e["when"] for e in story.events if e["event"] == "processes_checked"] == [
        "before the rollback", "after the rollback"]
    result = story.measured()
    assert result.times.recovered_s is not None
    assert any(g.name == "rollback_failed" for g in result.gaps)


def test_a_failed_rollback_falls_back_to_restarting_the_programs_and_both_times_are_kept(tmp_path):
    # The rollback's start is refused (systemd's start limit, in start-limit); with fallback
    # = "restart" the process manager starts the app's programs afresh, as the on-call would.
    host = Host(unbootable={"unbootable"})
    chosen = scenario("start-limit", db="never")
    story = rehearse(tmp_path, chosen, host,
                     lambda clock: deploys(host, clock, [Step(0.1, go_live("r2", "unbootable"))], 15.0, 1),
                     rollback_fails=True)
    assert story.deployer.calls == ["deploy unbootable", "rollback"]
    started = [e for e in story.events if e["event"] == "rollback_started"]
    assert [(e["action"], e["command"], e.get("fallback", False)) for e in started] == [
        ("rollback", "rollback", False), ("restart", "restart web worker", True)]
    result = story.measured()
    # The refused rollback and the fallback that ended the way back are two times, in order.
    assert result.times.rollback_failed_s is not None and result.times.rollback_done_s is not None
    assert result.times.rollback_started_s < result.times.rollback_failed_s <= result.times.rollback_done_s
    gap = next(g for g in result.gaps if g.name == "rollback_failed")
    assert "`restart web worker` ran as the fallback and succeeded" in gap.cause


def test_a_rollback_refused_by_systemds_start_limit_is_advised_to_reset_failed_first():
    from harness.environment.supervisord import Supervisord
    from harness.environment.systemd import Systemd
    from harness.results.measure import rollback_advice

    refused = ("deploy: systemd refused to start web: start request repeated too quickly (its start limit; "
               "`systemctl reset-failed web` clears it)")
    # The manager knows its own refusal; the rehearsal records its advice, and results read it.
    advice = Systemd(FakeEnvironment(Host())).refused(refused)
    assert advice is not None and advice.startswith("run `systemctl reset-failed` on the app's units before")
    assert Supervisord(FakeEnvironment(Host())).refused(refused) is None
    assert Systemd(FakeEnvironment(Host())).refused("deploy: no previous release to roll back to") is None
    assert rollback_advice({"detail": refused, "manager_advice": advice}) == advice
    assert "reset-failed" not in rollback_advice({"detail": refused})


def test_load_lost_mid_incident_ends_the_run_as_an_error_and_judges_no_objective(tmp_path):
    # A destructive migration goes live; 0.4 s after the fault, Locust dies. The records
    # stop with it, so what followed cannot be judged, whatever the rollback did.
    host = Host()
    deployed: list[float] = []  # when the fault's deploy started
    died: list[float] = []

    def plan(clock: FakeClock) -> Callable[[str, bool], FakeDeploy]:
        def deploy(release: str, gate: bool) -> FakeDeploy:
            deployed.append(clock.now())
            return FakeDeploy(host, clock, [Step(0.1, break_schema)], 0.5, 0)
        return deploy

    def locust(now: float) -> tuple[float, str] | None:
        if deployed and now >= deployed[0] + 0.4:
            died.append(now)
            return now, "Locust exited with status -9"
        return None

    story = rehearse(tmp_path, scenario("bad-migration"), host, plan, load_lost=locust)
    lost = story.first("load_lost")
    assert lost is not None and lost["cause"] == "Locust exited with status -9"
    # Noticed at the first look after it happened.
    assert lost["ts"] - died[0] <= LOAD_CHECK_S
    assert story.error == "the load generator stopped: Locust exited with status -9"
    result = story.measured()
    assert result.outcome == "error" and result.load_lost is not None
    assert result.load_lost.cause == "Locust exited with status -9"
    assert all(o.met is None for o in result.objectives), result.objectives
    assert result.recovery.code_rollback_recovered is None
    assert not [g for g in result.gaps if g.name in {o.name for o in result.objectives}]


def test_a_load_generator_that_keeps_reporting_is_never_load_lost(tmp_path):
    host = Host(unbootable={"unbootable"})
    story = rehearse(tmp_path, scenario(db="if-needed"), host,
                     lambda clock: deploys(host, clock, [Step(0.1, go_live("r2", "unbootable"))], 15.0, 1),
                     load_lost=lambda now: None)
    assert story.error is None and story.first("load_lost") is None
    assert story.measured().load_lost is None


def test_a_planned_rollback_that_fails_is_a_gap_even_when_no_objective_is_missed(tmp_path):
    # A good release, a round trip whose rollback command fails: nothing failed for users,
    # but the way back did not work, and the result must say so.
    host = Host()
    chosen = scenario("clean-deploy", trigger="after", after_s=1.0)
    story = rehearse(tmp_path, chosen, host,
                     lambda clock: deploys(host, clock, [Step(0.1, go_live("r2", "v2"))], 0.5, 0),
                     rollback_fails=True)
    result = story.measured()
    # (This fake run counts no jobs, so lost_jobs is not what is judged here.)
    assert next(o for o in result.objectives if o.name == "failed_requests").met is True
    gap = next(g for g in result.gaps if g.name == "rollback_failed")
    assert gap.measured == 1 and "the deployed release stayed live" in gap.cause
    assert result.outcome == "gaps"


def test_recovery_is_never_found_before_the_incident_was_noticed(tmp_path):
    # Requests pass; only /health fails once the release is live (a hung worker's shape).
    # The first stable window after t0 would "recover" before anyone noticed anything.
    host = Host(unhealthy={"sick"})
    chosen = dataclasses.replace(scenario(db="never"), phases=dataclasses.replace(
        find_scenario("failing-health-check-no-gate").phases, stable_s=1.0))
    story = rehearse(tmp_path, chosen, host,
                     lambda clock: deploys(host, clock, [Step(1.5, go_live("r2", "sick"))], 2.0, 0))
    result = story.measured()
    assert result.times.impact_s is None
    assert result.times.detect_s is not None and result.times.detect_s > 1.5
    assert result.times.recovered_s is not None and result.times.recovered_s >= result.times.detect_s
    verified = story.first("recovery_verified")
    assert verified is not None
    assert verified["recovered_ts"] - story.t0 == pytest.approx(result.times.recovered_s, abs=0.001)


def test_operator_mode_is_chosen_by_the_scenario_file(tmp_path):
    host = Host(unbootable={"unbootable"})
    story = rehearse(tmp_path, scenario(mode="operator"), host,
                     lambda clock: deploys(host, clock, [Step(0.1, go_live("r2", "unbootable"))], 0.5, 0))
    # Nobody typed anything: gameday neither detected nor rolled back on its own.
    assert story.first("phase_started", phase="operator") is not None
    assert story.deployer.calls == ["deploy bad-health"]
    assert story.first("recovery_timed_out") is not None


def test_a_detector_that_cannot_run_for_long_ends_the_run_as_an_error_not_as_an_alarm(tmp_path):
    # The health poller's instrument breaks 1 s into the baseline (a bug, a machine that
    # went away: not an HTTP answer). For a while it is only noted; then the run cannot be
    # judged, and it ends as an error, with no alarm raised.
    from harness.rehearsal.watch import INSTRUMENT_LOST_S

    host = Host()
    clock = FakeClock()
    chosen = scenario("failing-health-check-no-gate")
    started = clock.now()

    def handler(request: httpx.Request) -> httpx.Response:
        if clock.now() - started >= 1.0:
            raise RuntimeError("the probe's own machinery broke")
        return httpx.Response(200, json={"ok": True})

    timeline = Timeline(tmp_path / "timeline.jsonl", clock.now)
    watch = Watch(chosen, FakeEnvironment(host), timeline, FakeRecords(host, clock), clock,
                  transport=httpx.MockTransport(handler), threaded=False)
    with watch, pytest.raises(LoadLost, match="the health detector could not run for"):
        watch.sleep(60)
    events = timeline.events
    failed = [e for e in events if e["event"] == "instrument_failed"]
    lost = [e for e in events if e["event"] == "instrument_lost"]
    assert len(failed) == 1 and "RuntimeError: the probe's own machinery broke" in failed[0]["detail"]
    assert len(lost) == 1 and INSTRUMENT_LOST_S <= lost[0]["ts"] - failed[0]["ts"] <= INSTRUMENT_LOST_S + 1.5
    assert not [e for e in events if e["event"] == "alarm_raised"]
