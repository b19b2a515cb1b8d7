import xml.etree.ElementTree as ET
from dataclasses import replace

from harness.errors import HarnessError
from harness.rehearsal.nightly import run_all
from harness.results.model import Outcome, read_result
from tests.unit.test_report import make_run


def fake(tmp_path, outcomes):
    def rehearse_one(name):
        outcome = outcomes[name]
        if outcome == "raise":
            raise HarnessError("cannot reach the Docker daemon")
        result = read_result(make_run(tmp_path / name) / "result.json")
        return replace(result, scenario=name, outcome=Outcome(outcome))

    return rehearse_one


def test_all_met_is_exit_0(tmp_path):
    nightly = run_all(["a", "b"], tmp_path, fake(tmp_path, {"a": "met", "b": "met"}), lambda m: None)
    assert nightly.exit_code == 0
    assert (tmp_path / "trend.html").exists()


def test_a_missed_target_is_exit_1_and_the_rest_still_run(tmp_path):
    nightly = run_all(["a", "b", "c"], tmp_path, fake(tmp_path, {"a": "gaps", "b": "met", "c": "met"}),
                      lambda m: None)
    assert nightly.exit_code == 1
    assert [r.name for r in nightly.runs] == ["a", "b", "c"]


def test_a_scenario_that_cannot_run_is_exit_2_and_the_rest_still_run(tmp_path):
    nightly = run_all(["a", "b"], tmp_path, fake(tmp_path, {"a": "raise", "b": "gaps"}), lambda m: None)
    assert nightly.exit_code == 2
    assert nightly.runs[1].result is not None
    root = ET.parse(nightly.junit).getroot()
    assert [s.get("name") for s in root] == ["gameday.a", "gameday.b"]
    assert root.find("testsuite[@name='gameday.a']/testcase/error").get("message") == "cannot reach the Docker daemon"


def test_an_aborted_scenario_is_exit_2(tmp_path):
    nightly = run_all(["a", "b"], tmp_path, fake(tmp_path, {"a": "met", "b": "aborted"}), lambda m: None)
    assert nightly.exit_code == 2
    root = ET.parse(nightly.junit).getroot()
    assert root.find("testsuite[@name='gameday.b']/testcase[@name='rehearsal']/error") is not None


def test_jobs_run_scenarios_side_by_side_and_keep_their_order(tmp_path):
    import threading
    import time

    running, most = [0], [0]
    lock = threading.Lock()
    inner = fake(tmp_path, {"a": "met", "b": "gaps", "c": "raise", "d": "met"})

    def rehearse_one(name):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.2 if name == "a" else 0.05)  # the first ends last
            return inner(name)
        finally:
            with lock:
                running[0] -= 1

    nightly = run_all(["a", "b", "c", "d"], tmp_path, rehearse_one, lambda m: None, jobs=2)
    assert most[0] == 2
    assert [r.name for r in nightly.runs] == ["a", "b", "c", "d"]
    assert nightly.exit_code == 2 and nightly.runs[2].error == "cannot reach the Docker daemon"
    root = ET.parse(nightly.junit).getroot()
    assert [s.get("name") for s in root] == ["gameday.a", "gameday.b", "gameday.c", "gameday.d"]
