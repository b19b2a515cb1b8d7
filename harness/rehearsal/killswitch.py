"""A feature flag as the kill switch: rounds of one incident, each mitigated its own way.

Each round turns the scenario's flag on for a share of users (the round's t0), waits for
the first alarm, then mitigates as the round says: `flag-off` flips the flag back off
through the target's flag store; `rollback` rolls the release back with the deployer.
Then service must hold for `stable_s` again. Before each round the release is live again
(redeployed after a rollback) and the flag is off, so every round starts alike. The
rounds alternate their mitigations and percentages, so the comparison is made in one run,
on one replica, under the same load.

Each round is recorded as `round_started` … `round_finished`, with the usual
`alarm_raised`, `rollback_started` and `rollback_finished` events between.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from harness.config.scenario import Scenario
from harness.deploy import Deployer
from harness.environment import CommandResult, Environment
from harness.errors import HarnessError, StagingError
from harness.rehearsal.faults import OUTPUT_LINES
from harness.rehearsal.phases import deploy_and_wait
from harness.rehearsal.watch import Watch
from harness.results.timeline import Event

DEPLOY_WAIT_S = 300.0


@dataclass(frozen=True)
class Round:
    index: int
    percent: int
    mitigation: str


def rounds(scenario: Scenario) -> list[Round]:
    """Every round, in the order they run: each repeat goes through every share, and each
    share through every mitigation."""
    fault = scenario.fault
    found = itertools.product(range(fault.repeat), fault.percents, scenario.recovery.mitigations)
    return [Round(n, percent, mitigation) for n, (_, percent, mitigation) in enumerate(found, 1)]


def set_flag(environment: Environment, scenario: Scenario, percent: int) -> CommandResult:
    """Turn the scenario's flag on for `percent` of users (0: off) through the target's store."""
    store, flag = scenario.target.flags, scenario.fault.flag
    assert store is not None and flag is not None
    line = store.render(flag, percent)
    if store.sql is not None:
        try:
            rows = environment.sql(scenario.target.database, line)
        except StagingError as exc:
            return CommandResult(("sql", line), 1, "", str(exc))
        return CommandResult(("sql", line), 0, "\n".join("\t".join(r) for r in rows), "")
    return environment.exec(["sh", "-c", line])


def flag_command(scenario: Scenario, percent: int) -> str:
    """How a person would type the flip, for the report."""
    store, flag = scenario.target.flags, scenario.fault.flag
    assert store is not None and flag is not None
    line = store.render(flag, percent)
    return f"psql -c \"{line}\"" if store.sql is not None else line


def ready(watch: Watch, scenario: Scenario, environment: Environment, deployer: Deployer, release_dir: str | None,
          since: float) -> str | None:
    """The flag off and the scenario's release live (deployed again after a rollback),
    then service holding for `stable_s`; returns the release directory that is live."""
    flipped = set_flag(environment, scenario, 0)
    if not flipped.ok:
        raise StagingError(f"turning the flag {scenario.fault.flag} off failed: {flipped.last_line()}")
    release = scenario.fault.release
    if release is not None and (release_dir is None or deployer.current() != release_dir):
        result = deploy_and_wait(watch, deployer, release, DEPLOY_WAIT_S)
        if not result.ok:
            raise HarnessError(f"deploying {release} before a round failed: {result.last_line()}")
        release_dir = deployer.current()
    stable = scenario.phases.stable_s
    if not watch.wait_for(lambda: watch.recovered_since(since, stable) is not None, scenario.phases.recover_timeout_s):
        raise HarnessError(f"service did not hold for {stable:g}s before the next round (within "
                           f"{scenario.phases.recover_timeout_s:g}s): the rounds would not start alike")
    return release_dir


def rehearse_rounds(watch: Watch, scenario: Scenario, environment: Environment, deployer: Deployer,
                    actions: list[str]) -> float:
    """Every round; returns the first round's t0 (the run's t0). Each mitigation, as a
    person types it, is added to `actions`. The flag is off at the end."""
    t0: float | None = None
    release_dir: str | None = None
    try:
        watch.set_phase("prepare")
        release_dir = ready(watch, scenario, environment, deployer, None, watch.clock.now())
        for one in rounds(scenario):
            if one.index > 1:
                watch.set_phase("prepare")
                release_dir = ready(watch, scenario, environment, deployer, release_dir, watch.clock.now())
            started = rehearse_round(watch, scenario, environment, deployer, one, actions)
            t0 = started if t0 is None else t0
    finally:
        set_flag(environment, scenario, 0)
    assert t0 is not None
    return t0


def rehearse_round(watch: Watch, scenario: Scenario, environment: Environment, deployer: Deployer,
                   one: Round, actions: list[str]) -> float:
    """One round: flag on, first alarm, mitigation, service holding again; returns its t0."""
    timeline = watch.timeline
    fields: dict[str, Any] = {"round": one.index, "percent": one.percent, "mitigation": one.mitigation}
    watch.set_phase(f"round {one.index}")
    t0 = watch.clock.now()
    flipped = set_flag(environment, scenario, one.percent)
    timeline.record(Event.ROUND_STARTED, ts=t0, **fields, flag=scenario.fault.flag,
                    command=flag_command(scenario, one.percent), exit_status=flipped.exit_status)
    if one.index == 1:
        watch.set_t0(t0)  # before any request of the round is judged against the baseline
        timeline.record(Event.FAULT_INJECTED, ts=t0, kind="flag", flag=scenario.fault.flag, percent=one.percent)
    if not flipped.ok:
        raise StagingError(f"turning the flag {scenario.fault.flag} on failed: {flipped.last_line()}")
    detected = watch.wait_for(lambda: bool(watch.alarms_since(t0)), scenario.phases.detect_timeout_s)
    if not detected:
        timeline.record(Event.DETECTION_TIMED_OUT, after_s=scenario.phases.detect_timeout_s, **fields)
    action = "flag off" if one.mitigation == "flag-off" else "rollback"
    shown = flag_command(scenario, 0) if one.mitigation == "flag-off" else deployer.command_line("rollback")
    timeline.record(Event.ROLLBACK_STARTED, action=action, command=shown, **fields)
    result = set_flag(environment, scenario, 0) if one.mitigation == "flag-off" else deployer.rollback()
    actions.append(shown)
    timeline.record(Event.ROLLBACK_FINISHED, action=action, command=shown, exit_status=result.exit_status,
                    detail=result.last_line()[-300:], output=result.tail(OUTPUT_LINES), **fields)
    stable = scenario.phases.stable_s
    recovered = watch.wait_for(lambda: watch.recovered_since(t0, stable) is not None,
                               scenario.phases.recover_timeout_s + stable)
    timeline.record(Event.ROUND_FINISHED, **fields, recovered_ts=watch.recovered_since(t0, stable) if recovered
                    else None)
    return t0
