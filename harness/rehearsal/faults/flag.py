"""The `flag` kind: a feature flag as the kill switch, in rounds of one incident, each
mitigated its own way.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.config.faultspec import FaultTraits
from harness.config.scenario import MAX_ROUNDS, Scenario
from harness.config.tables import NAME, Table
from harness.config.target import Target
from harness.deploy import Deployer
from harness.environment import CommandResult, Environment, ProcessManager
from harness.errors import HarnessError, StagingError
from harness.rehearsal.faults.base import OUTPUT_LINES, Context, Leftovers
from harness.rehearsal.faults.deploy import release_of
from harness.rehearsal.phases import deploy_and_wait
from harness.rehearsal.watch import Watch
from harness.results.timeline import Event

DEPLOY_WAIT_S = 300.0


@dataclass(frozen=True)
class FlagFault:
    """`kind = "flag"`: `flag` turned on for each share of users in `percents` in turn (one
    round each, `repeat` times over); `release`, when set, is deployed first with the flag off."""

    flag: str
    percents: tuple[int, ...]
    repeat: int = 1
    release: str | None = None
    kind: str = "flag"

    @property
    def traits(self) -> FaultTraits:
        return FaultTraits(single=False, rounds=self.repeat * len(self.percents))

    def explain(self, events: Sequence[Mapping[str, Any]], impact_seen: bool) -> str | None:
        return None  # each round is judged on its own (`results.rounds`)

    def advise(self, objective: str) -> str | None:
        return None  # each round has its own gap and advice


def parse(t: Table, target: Target) -> FlagFault:
    if target.flags is None:
        raise t.error("kind", f"'flag' needs a target with a [flags] store; {target.name} has none")
    release = release_of(t, target, required=False)
    value = t.data.get("percent", 100)
    percents = value if isinstance(value, list) else [value]
    if not percents or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 100
                               for v in percents):
        raise t.error("percent", f"must be a whole number from 1 to 100, or a list of them; got {value!r}")
    if len(set(percents)) < len(percents):
        raise t.error("percent", f"lists a share twice ({value!r}); use repeat to run a share again")
    t.used.add("percent")
    return FlagFault(str(t.string("flag", pattern=NAME)), tuple(percents),
                     int(t.number("repeat", 1, minimum=1, maximum=MAX_ROUNDS, integer=True) or 1), release)


def flag_fault(scenario: Scenario) -> FlagFault:
    fault = scenario.fault
    assert isinstance(fault, FlagFault)
    return fault


@dataclass(frozen=True)
class Round:
    index: int
    percent: int
    mitigation: str


def rounds(scenario: Scenario) -> list[Round]:
    """Every round, in the order they run: each repeat goes through every share, and each
    share through every mitigation."""
    fault = flag_fault(scenario)
    found = itertools.product(range(fault.repeat), fault.percents, scenario.recovery.mitigations)
    return [Round(n, percent, mitigation) for n, (_, percent, mitigation) in enumerate(found, 1)]


def set_flag(environment: Environment, scenario: Scenario, percent: int) -> CommandResult:
    """Turn the scenario's flag on for `percent` of users (0: off) through the target's store."""
    store, flag = scenario.target.flags, flag_fault(scenario).flag
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
    store, flag = scenario.target.flags, flag_fault(scenario).flag
    assert store is not None and flag is not None
    line = store.render(flag, percent)
    return f"psql -c \"{line}\"" if store.sql is not None else line


def ready(watch: Watch, scenario: Scenario, environment: Environment, deployer: Deployer, release_dir: str | None,
          since: float) -> str | None:
    """The flag off and the scenario's release live (deployed again after a rollback),
    then service holding for `stable_s`; returns the release directory that is live."""
    flipped = set_flag(environment, scenario, 0)
    if not flipped.ok:
        raise StagingError(f"turning the flag {flag_fault(scenario).flag} off failed: {flipped.last_line()}")
    release = flag_fault(scenario).release
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
    timeline.record(Event.ROUND_STARTED, ts=t0, **fields, flag=flag_fault(scenario).flag,
                    command=flag_command(scenario, one.percent), exit_status=flipped.exit_status)
    if one.index == 1:
        watch.set_t0(t0)  # before any request of the round is judged against the baseline
        timeline.record(Event.FAULT_INJECTED, ts=t0, kind=flag_fault(scenario).kind,
                        flag=flag_fault(scenario).flag, percent=one.percent)
    if not flipped.ok:
        raise StagingError(f"turning the flag {flag_fault(scenario).flag} on failed: {flipped.last_line()}")
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


class Flag:
    name = "flag"

    def parse(self, table: Table, target: Target) -> FlagFault:
        return parse(table, target)

    def rehearse(self, context: Context) -> None:
        try:
            context.t0 = rehearse_rounds(context.watch, context.scenario, context.environment, context.deployer,
                                         context.actions)
        finally:
            # A round that failed still had its t0.
            context.t0 = context.t0 if context.t0 is not None else context.watch.t0

    def leftovers(self, scenario: Scenario, environment: Environment, processes: ProcessManager) -> Leftovers:
        return Leftovers()  # the flag is turned off at the end of the rounds, whatever happened
