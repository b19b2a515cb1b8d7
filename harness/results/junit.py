"""JUnit XML: one test case per objective of a run, so a CI dashboard shows which recovery
objective regressed and by how much. A run that could not finish is one errored case."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from harness.results.model import Result


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
            failure.text = f"{gap.cause if gap else ''}\nAdvice: {gap.advice if gap else ''}"
            failures += 1
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="measured", value=_fmt(measured))
        ET.SubElement(props, "property", name="target", value=_fmt(bound))
    for key, value in (("tests", cases), ("failures", failures), ("errors", errors), ("skipped", skipped),
                       ("time", f"{duration:.3f}")):
        suite.set(key, str(value))
    return suite


def error_suite(scenario: str, reason: str) -> ET.Element:
    """A scenario that could not even start a run: one errored case."""
    suite = ET.Element("testsuite", name=f"gameday.{scenario}", tests="1", failures="0", errors="1",
                       skipped="0", time="0")
    case = ET.SubElement(suite, "testcase", classname=f"gameday.{scenario}", name="rehearsal", time="0")
    ET.SubElement(case, "error", message=reason, type="could_not_run")
    return suite


def write(path: Path, suites: Sequence[ET.Element]) -> Path:
    root = ET.Element("testsuites", name="gameday")
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in suites)))
    root.extend(suites)
    ET.indent(root)
    tmp = path.with_suffix(".xml.tmp")
    ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(path)
    return path
