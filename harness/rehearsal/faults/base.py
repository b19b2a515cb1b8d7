"""What every fault kind shares: the kind's protocol, the rehearsal's context it is
handed, and the injection in progress that the phases watch."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from harness.config.faultspec import FaultSpec
from harness.config.scenario import Scenario
from harness.config.tables import Table
from harness.config.target import Target
from harness.deploy import Deployer, RunningCommand
from harness.environment import CommandResult, Environment, ProcessManager
from harness.errors import HarnessError
from harness.rehearsal.clock import Clock
from harness.results.timeline import Event, Timeline

if TYPE_CHECKING:
    from harness.rehearsal.compatibility import SavedState
    from harness.rehearsal.watch import Watch

# The last lines of a command's output the timeline keeps, for the report.
OUTPUT_LINES = 12


class FaultFailed(HarnessError):
    """The fault itself could not be carried out (its deploy could not run, its signal
    could not be sent): the run is an error."""


@dataclass
class Injection:
    """A fault in progress: its spec and t0, and for a fault that deploys, the running
    command and its outcome. The phases watch it; only a deploy's is ever running."""

    fault: FaultSpec
    t0: float
    timeline: Timeline
    deploy: RunningCommand | None = None
    gate: bool = False  # the fault's deploy runs the deploy tool's gate
    result: CommandResult | None = None
    interrupted: str | None = None
    _reported: bool = field(default=False, repr=False)

    def poll(self) -> CommandResult | None:
        """The deploy's result once it ended; raises `FaultFailed` when it could not run."""
        if self.deploy is None or self.result is not None:
            return self.result
        try:
            result = self.deploy.poll()
        except HarnessError as exc:
            if not self._reported:
                self._reported = True
                self.timeline.record(Event.DEPLOY_FAILED_TO_RUN, detail=str(exc)[:300])
            raise FaultFailed(f"the fault's deploy could not run: {exc}") from exc
        if result is not None:
            self.result = result
            self.timeline.record(Event.DEPLOY_FINISHED, exit_status=result.exit_status,
                                 detail=result.last_line()[-300:], output=result.tail(OUTPUT_LINES))
        return result

    def running(self) -> bool:
        return self.deploy is not None and self.poll() is None

    def failed(self) -> bool:
        """The deploy command ended and said it failed (for instance its gate aborted it)."""
        result = self.poll()
        return result is not None and not result.ok

    def stop(self) -> str | None:
        """Interrupt a deploy that is still running; what was done, or None if it had ended."""
        if not self.running():
            return None
        assert self.deploy is not None
        self.interrupted = self.deploy.stop()
        self.timeline.record(Event.DEPLOY_INTERRUPTED, detail=self.interrupted)
        self.poll()
        return self.interrupted


@dataclass
class Context:
    """What a kind is handed to rehearse its fault, from injection to verified recovery.

    `respond` takes a single incident from its injection to verified recovery (detect,
    recover, verify: the runbook's); `recovered` runs once a single fault's injection has
    ended (the schema's fingerprint after a database rollback). A kind sets `t0` when its
    fault starts, and a plan its saved schema `states`.
    """

    scenario: Scenario
    watch: Watch
    environment: Environment
    deployer: Deployer
    processes: ProcessManager
    clock: Clock
    actions: list[str]
    respond: Callable[[Injection], None]
    recovered: Callable[[], None] = lambda: None
    t0: float | None = None
    states: list[SavedState] = field(default_factory=list)

    @property
    def timeline(self) -> Timeline:
        return self.watch.timeline


@dataclass(frozen=True)
class Leftovers:
    """What a kind checked on the host after its fault: what it found left behind, the
    checks it made (found or not), and the checks it could not make, each with why."""

    findings: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    unchecked: tuple[str, ...] = ()


class FaultKind(Protocol):
    """One kind of fault: `name` is what `fault.kind` says in a scenario file."""

    @property
    def name(self) -> str: ...

    def parse(self, table: Table, target: Target) -> FaultSpec:
        """The `[fault]` table to this kind's spec; raises InputError naming the file and key.
        The caller finishes the table (unknown keys are errors)."""

    def rehearse(self, context: Context) -> None:
        """From the fault to verified recovery; sets `context.t0` once the fault started."""

    def leftovers(self, scenario: Scenario, environment: Environment, processes: ProcessManager) -> Leftovers:
        """What this kind's fault may have left on the host once the run is over, checked
        (added to the run's hygiene record); empty when it leaves nothing to check."""


class OneIncident:
    """What a kind whose fault is one incident shares: its own module gives `name`, its
    spec's class (`spec`), `parse` and `injected` (the fault as a context manager); the
    runbook's detect-and-recover does the rest. It leaves nothing of its own to check
    unless it says so (`leftovers`)."""

    name: str
    spec: type

    def parse(self, table: Table, target: Target) -> FaultSpec:
        raise NotImplementedError

    def injected(self, context: Context, fault: Any) -> AbstractContextManager[Injection]:
        raise NotImplementedError

    def rehearse(self, context: Context) -> None:
        fault = context.scenario.fault
        assert isinstance(fault, self.spec), fault
        single(context, self.injected(context, fault))

    def leftovers(self, scenario: Scenario, environment: Environment, processes: ProcessManager) -> Leftovers:
        return Leftovers()


def single(context: Context, injected: AbstractContextManager[Injection]) -> None:
    """A fault that is one incident: inject it, hand it to `respond`, then `recovered`."""
    with injected as injection:
        context.t0 = injection.t0
        context.watch.set_t0(injection.t0)
        context.respond(injection)
    context.recovered()
