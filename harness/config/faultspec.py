"""What every fault kind's spec offers the rest of gameday, whatever the kind.

Each kind (one module under `harness/rehearsal/faults/`) parses its own `[fault]` table
into its own frozen spec; the scenario holds one of them (a tagged union across kinds, by
`kind`). The scenario's own checks, the phases and `results/` ask a spec these questions
and never compare its kind's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from harness.config.tables import Table
    from harness.config.target import Target


@dataclass(frozen=True)
class FaultTraits:
    """What a kind of fault is, for the checks and the judgement that depend on it.

    - `deploys`: the fault deploys a release, so a code rollback can undo it, and the
      run's story is that deploy's (`[recovery]`'s retry, fallback and redeploy apply).
    - `single`: one incident, detected then recovered as `[recovery]` says; False for a
      fault that recovers its own way (a plan's steps, a flag's rounds).
    - `rounds`: rounds per mitigation, each measured on its own (0: not measured in rounds).
    - `no_rollback`: why a rollback cannot undo this fault (recorded as `rollback_skipped`),
      or None when one can.
    - `needs_shell`: the scenario key that needs a shell on the web host and why (so an
      existing environment cannot take it), or None.
    """

    deploys: bool = False
    single: bool = True
    rounds: int = 0
    no_rollback: str | None = None
    needs_shell: tuple[str, str] | None = None


class FaultSpec(Protocol):
    """One fault, parsed from a scenario's `[fault]` table by its kind."""

    @property
    def kind(self) -> str:
        """The kind's name, as `fault.kind` spells it (for the record, never for branching)."""

    @property
    def release(self) -> str | None:
        """The release the fault deploys (or deploys first), if any."""

    @property
    def traits(self) -> FaultTraits: ...

    def explain(self, events: Sequence[Mapping[str, Any]], impact_seen: bool) -> str | None:
        """The cause, when the kind alone explains the run, from its own events in the
        timeline (`events`, the run's from the fault on, as written); None to let the
        deploy's story explain it. `impact_seen`: users saw the fault. What users saw is
        added after it (`results.causes`)."""


    def advise(self, objective: str) -> str | None:
        """What helps against this fault when `objective` (a name in [objectives]) is
        missed, where the kind knows better than the deploy's advice; None otherwise."""


# A kind's parser: the `[fault]` table and the target, to its spec; raises InputError
# naming the file and key (Table.error).
FaultParser = Callable[["Table", "Target"], FaultSpec]
