"""Migration lint tied to the outcome: squawk's findings on the migrations a rehearsal
applied, and for each gap whether lint would have prevented it before the deploy.

Pure: `findings` reads squawk's JSON report (`squawk --reporter json`, a list of objects
with `file`, `line`, `level`, `message` and `rule_name`), `prevention` classifies a gap.
The rule names and what each predicts are squawk's (its rule documentation, "Rules").
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harness.results.model import PREVENTABLE, RUNTIME, LintFinding

# Rules whose finding means code on either side of the deploy breaks against the new
# schema: the old release still reads or writes what changed, or the rollback's code does.
BREAKING_RULES = frozenset({
    "ban-drop-column", "ban-drop-table", "ban-drop-database", "renaming-column", "renaming-table",
    "adding-required-field", "adding-not-nullable-field", "changing-column-type", "ban-truncate-cascade",
    "ban-drop-default",
})
# Rules whose finding means the migration takes or waits for a lock that queues every query
# on the table: they explain a stall (requests slower than the latency limit, timeouts).
LOCKING_RULES = frozenset({
    "require-lock-timeout", "require-statement-timeout", "require-timeout-settings",
    "require-concurrent-index-creation", "require-concurrent-index-deletion", "constraint-missing-not-valid",
    "adding-foreign-key-constraint", "disallowed-unique-constraint", "adding-serial-primary-key-field",
    "adding-field-with-default", "changing-column-type",
})
# Rules whose finding means a migration cannot be re-run after it failed part way: they
# explain a deploy that failed at its migrate step.
RERUN_RULES = frozenset({"prefer-robust-stmts", "transaction-nesting",
                         "ban-concurrent-index-creation-in-transaction"})


class LintReportError(ValueError):
    """squawk's output is not the JSON report this reads."""


def findings(report: str, where: dict[str, tuple[str, str]]) -> list[LintFinding]:
    """squawk's JSON report as findings. `where` maps each path squawk was given to the
    (release, path inside the release) it holds; a path not in it is kept as given, with
    release "". Raises LintReportError when `report` is not a JSON list of findings."""
    if not report.strip():
        return []
    try:
        data = json.loads(report)
    except json.JSONDecodeError as exc:
        raise LintReportError(f"squawk's report is not JSON: {exc}") from None
    if not isinstance(data, list):
        raise LintReportError("squawk's report is not a list of findings")
    found = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("rule_name"), str):
            raise LintReportError(f"squawk's report holds a finding without a rule: {item!r}")
        path = str(item.get("file", ""))
        release, file = where.get(path, ("", path))
        line = item.get("line")
        found.append(LintFinding(release, file, line + 1 if isinstance(line, int) else 0, item["rule_name"],
                                 str(item.get("level", "warning")).lower(), str(item.get("message", ""))))
    return found


@dataclass(frozen=True)
class Outcome:
    """What a gap's release did at run time, as far as lint can explain it: whether
    requests stalled (slower than the latency limit, or gateway timeouts) while its
    migrate step ran, and whether that step failed."""

    stalled: bool = False
    migrate_failed: bool = False


def prevention(release: str | None, lint: Iterable[LintFinding], outcome: Outcome,
               from_deploy: bool = True) -> tuple[str, tuple[str, ...]]:
    """(PREVENTABLE, rules) when lint flagged, in a migration `release` brought, a rule
    that predicts what happened: a breaking rule always; a locking rule when requests
    stalled while the release's migrate step ran; a re-run rule when that step failed.
    Otherwise (RUNTIME, ()). A gap no migration causes (`from_deploy` false: a false
    alarm, a leftover process) needs runtime detection."""
    if not from_deploy or release is None:
        return RUNTIME, ()
    rules = {f.rule for f in lint if f.release == release}
    for wanted, applies in ((BREAKING_RULES, True), (LOCKING_RULES, outcome.stalled),
                            (RERUN_RULES, outcome.migrate_failed)):
        matched = sorted(rules & wanted)
        if applies and matched:
            return PREVENTABLE, tuple(matched)
    return RUNTIME, ()


def release_of_gap(name: str, fault_release: str | None, step_releases: Sequence[str]) -> str | None:
    """The release a gap is about: a plan step's (`step_N_…`, N from 1) or the fault's."""
    if name.startswith("step_"):
        index = name.split("_")[1]
        if index.isdigit() and 1 <= int(index) <= len(step_releases):
            return step_releases[int(index) - 1]
    return fault_release
