"""The registry of fault kinds: one line each. The first is `fault.kind`'s default."""

from __future__ import annotations

from collections.abc import Mapping

from harness.config.faultspec import FaultParser, FaultSpec
from harness.rehearsal.faults.base import FaultKind
from harness.rehearsal.faults.deploy import Deploy
from harness.rehearsal.faults.errors import Errors
from harness.rehearsal.faults.flag import Flag
from harness.rehearsal.faults.plan import Plan
from harness.rehearsal.faults.process import Process

KINDS: Mapping[str, FaultKind] = {kind.name: kind for kind in (
    Deploy(),
    Errors(),
    Flag(),
    Process(),
    Plan(),
)}

# What `[fault] kind` may name, each with its parser (the plan's says to write a [plan]).
PARSERS: Mapping[str, FaultParser] = {name: kind.parse for name, kind in KINDS.items()}


def kind_of(fault: FaultSpec) -> FaultKind:
    """The kind that parsed `fault`, which rehearses it."""
    return KINDS[fault.kind]
