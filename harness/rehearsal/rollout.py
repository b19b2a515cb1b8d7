"""A plan rolled out under load, one step at a time: each step's release deployed and
watched; with a round trip, rolled back (code only, as a team's first move would be) and
rolled forward again, so the report can say whether undoing that step is safe. The schema
each step leaves is saved for the compatibility matrix (`compatibility`).

Every action is recorded as `plan_step_started`, `plan_step_finished` (exit status and
output) and `plan_step_settled` (the end of the window its requests are judged in).
"""

from __future__ import annotations

from typing import Any

from harness.config.scenario import Plan, PlanStep, Scenario
from harness.deploy import Deployer
from harness.environment import Environment
from harness.rehearsal import compatibility
from harness.rehearsal.faults.base import OUTPUT_LINES
from harness.rehearsal.phases import deploy_and_wait
from harness.rehearsal.watch import Watch
from harness.results.timeline import Event

DEPLOY_WAIT_S = 300.0


def roll_out(watch: Watch, scenario: Scenario, environment: Environment,
             deployer: Deployer) -> list[compatibility.SavedState]:
    """Run every step of the scenario's plan; returns the schema states it passed through,
    the one before the plan first."""
    plan = scenario.plan
    assert plan is not None
    target = scenario.target
    watch.set_phase("rollout")
    states = [compatibility.save_state(environment, target, 0, "start", watch.timeline)]
    for index, step in enumerate(plan.steps, 1):
        act(watch, deployer, plan, index, step, "deploy")
        columns = compatibility.columns(environment, target)
        if columns != states[-1].columns:
            states.append(compatibility.save_state(environment, target, len(states), step.name, watch.timeline,
                                                   columns))
        if plan.round_trip:
            act(watch, deployer, plan, index, step, "rollback")
            act(watch, deployer, plan, index, step, "forward")
    return states


def act(watch: Watch, deployer: Deployer, plan: Plan, index: int, step: PlanStep, action: str) -> None:
    """One action of a step (`deploy`, `rollback` or `forward`), then `plan.settle_s` of load."""
    fields: dict[str, Any] = {"index": index, "step": step.name, "release": step.release, "action": action}
    if action == "rollback":
        watch.timeline.record(Event.PLAN_STEP_STARTED, **fields, command=deployer.command_line("rollback"))
        result = deployer.rollback()
    else:
        # A roll-forward deploys the step's release again, as a team would after a rollback.
        result = deploy_and_wait(watch, deployer, step.release, DEPLOY_WAIT_S, lambda running: watch.timeline.record(
            Event.PLAN_STEP_STARTED, **fields, command=" ".join(running.argv)))
    watch.timeline.record(Event.PLAN_STEP_FINISHED, **fields, exit_status=result.exit_status,
                          detail=result.last_line()[-300:], output=result.tail(OUTPUT_LINES),
                          current=deployer.current())
    watch.sleep(plan.settle_s)
    watch.timeline.record(Event.PLAN_STEP_SETTLED, **fields)
