"""The `plan` kind: a scenario's `[plan]` steps in place of a single fault.

t0 is when the first step starts; each step is deployed, watched and, when the plan says
so, rolled back and forward again (`rehearsal.rollout`); service must hold at the end as
after any recovery. A plan is written as `[plan]`, never as `[fault] kind = "plan"`, so
its parser only says so.
"""

from __future__ import annotations

from harness.config.scenario import PlanFault, Scenario
from harness.config.tables import Table
from harness.config.target import Target
from harness.environment import Environment, ProcessManager
from harness.rehearsal import rollout
from harness.rehearsal.faults.base import Context, Leftovers
from harness.rehearsal.phases import verify
from harness.results.timeline import Event


class Plan:
    name = "plan"

    def parse(self, table: Table, target: Target) -> PlanFault:
        raise table.error("kind", "a plan is written as a [plan] section with [[plan.steps]], not as a [fault]")

    def rehearse(self, context: Context) -> None:
        scenario = context.scenario
        assert scenario.plan is not None
        context.t0 = context.clock.now()
        context.watch.set_t0(context.t0)
        context.timeline.record(Event.FAULT_INJECTED, ts=context.t0, kind=scenario.fault.kind,
                                steps=[f"{step.name}: {step.release}" for step in scenario.plan.steps])
        context.states = rollout.roll_out(context.watch, scenario, context.environment, context.deployer)
        verify(context.watch, scenario, context.t0)

    def leftovers(self, scenario: Scenario, environment: Environment, processes: ProcessManager) -> Leftovers:
        return Leftovers()  # each step's schema is checked by the round trip and the matrix
