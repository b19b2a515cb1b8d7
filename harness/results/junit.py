"""JUnit XML: one test case per target of a run, so a CI dashboard shows which recovery
target regressed and by how much. A run that could not finish is one errored case."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.results.measure import parse_ts


def _fmt(value: float | None) -> str:
    return "null" if value is None else f"{value:g}"


def testsuite(result: dict[str, Any]) -> ET.Element:
    scenario = result["scenario"]
    suite = ET.Element("testsuite", name=f"gameday.{scenario}", timestamp=result["started_at"])
    duration = max(0.0, parse_ts(result["finished_at"]) - parse_ts(result["started_at"]))
    gaps = {g["name"]: g for g in result.get("gaps") or []}
    failures = errors = skipped = 0
    cases = 0
    if result["outcome"] not in ("met", "gaps"):
        case = ET.SubElement(suite, "testcase", classname=f"gameday.{scenario}", name="rehearsal",
                             time=f"{duration:.3f}")
        ET.SubElement(case, "error", message=f"{result['outcome']}: {result.get('reason') or ''}",
                      type=result["outcome"])
        errors += 1
        cases += 1
    for target in result.get("targets") or []:
        name = target["name"]
        measured = target["measured"]
        case = ET.SubElement(suite, "testcase", classname=f"gameday.{scenario}", name=name,
                             time=f"{measured:.3f}" if name.endswith("_s") and measured is not None else "0")
        cases += 1
        if target["met"] is None:
            ET.SubElement(case, "skipped", message="not measured: the run did not finish")
            skipped += 1
        elif not target["met"]:
            gap = gaps.get(name, {})
            over = ""
            if measured is not None and target["target"]:
                over = f" ({(measured - target['target']) / target['target'] * 100:+.0f}%)"
            message = f"{name}: measured {_fmt(measured)}, target {_fmt(target['target'])}{over}"
            if gap.get("regression"):
                message += f"; {gap['cause']}"
            failure = ET.SubElement(case, "failure", message=message,
                                    type="regression" if gap.get("regression") else "missed_target")
            failure.text = f"{gap.get('cause', '')}\nAdvice: {gap.get('advice', '')}"
            failures += 1
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="measured", value=_fmt(measured))
        ET.SubElement(props, "property", name="target", value=_fmt(target["target"]))
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
