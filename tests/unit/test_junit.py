import xml.etree.ElementTree as ET
from dataclasses import replace

from harness.results import junit
from harness.results.model import Gap, Outcome, read_result
from tests.unit.test_report import make_run


def result_of(tmp_path, **kw):
    return read_result(make_run(tmp_path, **kw) / "result.json")


def test_each_objective_is_a_test_case(tmp_path):
    suite = junit.testsuite(result_of(tmp_path))
    cases = suite.findall("testcase")
    assert suite.get("name") == "gameday.failing-health-check-no-gate"
    assert [c.get("name") for c in cases] == [
        "time_to_detect_s", "time_to_rollback_s", "time_to_recover_s", "failed_requests", "lost_jobs"]
    assert suite.get("tests") == "5" and suite.get("failures") == "0"


def test_a_missed_objective_is_a_failure_with_measured_and_target(tmp_path):
    result = result_of(tmp_path)
    first = replace(result.objectives[0], measured=12.0, met=False)
    result = replace(result, objectives=(first, *result.objectives[1:]),
                     gaps=(Gap("time_to_detect_s", 5, 12.0, "slow poller", "poll faster"),))
    suite = junit.testsuite(result)
    failure = suite.find("testcase[@name='time_to_detect_s']/failure")
    assert failure is not None
    assert failure.get("message") == "time_to_detect_s: measured 12, target 5 (+140%)"
    assert failure.get("type") == "missed_target"
    assert "slow poller" in (failure.text or "") and "poll faster" in (failure.text or "")
    assert suite.get("failures") == "1"


def test_a_run_that_did_not_finish_is_an_error(tmp_path):
    result = replace(result_of(tmp_path), outcome=Outcome.ABORTED, reason="interrupted")
    suite = junit.testsuite(result)
    assert suite.find("testcase[@name='rehearsal']/error").get("message") == "aborted: interrupted"
    assert suite.find("testcase[@name='rehearsal']/error").get("type") == "aborted"
    assert suite.get("errors") == "1"


def test_merged_file_sums_its_suites(tmp_path):
    suites = [junit.testsuite(result_of(tmp_path / "a")), junit.error_suite("hung-worker", "no Docker")]
    path = junit.write(tmp_path / "junit.xml", suites)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    assert root.get("tests") == "6" and root.get("errors") == "1"


def test_every_gap_carries_its_lint_class(tmp_path):
    """An objective's gap and a gap no objective covers both say whether lint would have
    caught them, and which rules."""
    result = result_of(tmp_path)
    first = replace(result.objectives[0], measured=12.0, met=False)
    gaps = (Gap("time_to_detect_s", 5, 12.0, "slow poller", "poll faster", prevention="needed runtime detection"),
            Gap("schema_round_trip", 0, 1, "left behind: type order_status", "fix the down script",
                prevention="preventable before deploy", rules=("ban-drop-column",)))
    suite = junit.testsuite(replace(result, objectives=(first, *result.objectives[1:]), gaps=gaps))
    props = {p.get("name"): p.get("value")
             for p in suite.findall("testcase[@name='time_to_detect_s']/properties/property")}
    assert props["prevention"] == "needed runtime detection" and "lint_rules" not in props
    extra = suite.find("testcase[@name='schema_round_trip']")
    assert extra is not None and extra.find("failure").get("type") == "gap"
    assert "Lint: preventable before deploy (ban-drop-column)" in extra.find("failure").text
    props = {p.get("name"): p.get("value") for p in extra.findall("properties/property")}
    assert props == {"measured": "1", "prevention": "preventable before deploy", "lint_rules": "ban-drop-column"}
    assert suite.get("tests") == "6" and suite.get("failures") == "2"
