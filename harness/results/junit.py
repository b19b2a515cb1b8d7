"""JUnit XML: one test case per objective of a run, so a CI dashboard shows which recovery
objective regressed and by how much. A run that could not finish is one errored case."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from harness.results.files import write_text
from harness.results.model import Gap, Result


def _fmt(value: float | None) -> str:
    return "null" if value is None else f"{value:g}"


def testsuite(result: Result) -> ET.Element:
    scenario = result.scenario
    suite = ET.Element("testsuite", name=f"gameday.{scenario}", timestamp=result.started_at)
    duration = max(0.0, result.finished_ts - result.started_ts)
    gaps = {g.name: g for g in result.gaps}
    failures = errors = skipped = 0
    cases = 0
    if not result.outcome.finished:
        case = ET.SubElement(suite, "testcase", classname=f"gameday.{scenario}", name="rehearsal",
                             time=f"{duration:.3f}")
        ET.SubElement(case, "error", message=f"{result.outcome}: {result.reason or ''}", type=str(result.outcome))
        errors += 1
        cases += 1
    for objective in result.objectives:
        name, measured, bound = objective.name, objective.measured, objective.objective
        case = ET.SubElement(suite, "testcase", classname=f"gameday.{scenario}", name=name,
                             time=f"{measured:.3f}" if name.endswith("_s") and measured is not None else "0")
        cases += 1
        if objective.met is None:
            ET.SubElement(case, "skipped", message="not measured: the run did not finish")
            skipped += 1
        elif not objective.met:
            gap = gaps.get(name)
            regression = gap is not None and gap.regression
            over = ""
            if measured is not None and bound:
                over = f" ({(measured - bound) / bound * 100:+.0f}%)"
            # The message and the property keep the word "target": CI dashboards already show them.
            message = f"{name}: measured {_fmt(measured)}, target {_fmt(bound)}{over}"
            if gap is not None and regression:
                message += f"; {gap.cause}"
            failure = ET.SubElement(case, "failure", message=message,
                                    type="regression" if regression else "missed_target")
            failure.text = f"{gap.cause if gap else ''}\nAdvice: {gap.advice if gap else ''}" + _prevention(gap)
            failures += 1
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="measured", value=_fmt(measured))
        ET.SubElement(props, "property", name="target", value=_fmt(bound))
        _prevention_properties(props, gaps.get(name) if objective.met is False else None)
    # Gaps no objective covers (a failed rollback, a leftover, a schema that did not come
    # back, a plan step that failed): a failed case each.
    judged = {o.name for o in result.objectives}
    for gap in result.gaps:
        if gap.name in judged:
            continue
        case = ET.SubElement(suite, "testcase", classname=f"gameday.{scenario}", name=gap.name, time="0")
        cases += 1
        if gap.found_after is not None:
            # Found once the run had stopped, perhaps left by what stopped it: not the team's gap.
            ET.SubElement(case, "skipped", message=f"found after {gap.found_after}: {gap.cause}"[:500])
            skipped += 1
            continue
        failure = ET.SubElement(case, "failure", message=f"{gap.name}: {gap.cause}"[:500], type="gap")
        failure.text = f"{gap.cause}\nAdvice: {gap.advice}" + _prevention(gap)
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="measured", value=_fmt(gap.measured))
        _prevention_properties(props, gap)
        failures += 1
    for key, value in (("tests", cases), ("failures", failures), ("errors", errors), ("skipped", skipped),
                       ("time", f"{duration:.3f}")):
        suite.set(key, str(value))
    return suite


def _prevention(gap: Gap | None) -> str:
    if gap is None or gap.prevention is None:
        return ""
    return f"\nLint: {gap.prevention}" + (f" ({', '.join(gap.rules)})" if gap.rules else "")


def _prevention_properties(props: ET.Element, gap: Gap | None) -> None:
    """The gap's lint class (`prevention`) and the lint rules that would have caught it."""
    if gap is None or gap.prevention is None:
        return
    ET.SubElement(props, "property", name="prevention", value=gap.prevention)
    if gap.rules:
        ET.SubElement(props, "property", name="lint_rules", value=",".join(gap.rules))


def error_suite(scenario: str, reason: str) -> ET.Element:
    """A scenario that could not even start a run: one errored case."""
    suite = ET.Element("testsuite", name=f"gameday.{scenario}", tests="1", failures="0", errors="1",
                       skipped="0", time="0")
    case = ET.SubElement(suite, "testcase", classname=f"gameday.{scenario}", name="rehearsal", time="0")
    ET.SubElement(case, "error", message=reason, type="could_not_run")
    return suite


def skipped_suite(scenario: str, reason: str) -> ET.Element:
    """A scenario the nightly did not run (its deploy tool is not installed): one skipped case."""
    suite = ET.Element("testsuite", name=f"gameday.{scenario}", tests="1", failures="0", errors="0",
                       skipped="1", time="0")
    case = ET.SubElement(suite, "testcase", classname=f"gameday.{scenario}", name="rehearsal", time="0")
    ET.SubElement(case, "skipped", message=reason[:500])
    return suite


def write(path: Path, suites: Sequence[ET.Element]) -> Path:
    root = ET.Element("testsuites", name="gameday")
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in suites)))
    root.extend(suites)
    ET.indent(root)
    return write_text(path, ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")
