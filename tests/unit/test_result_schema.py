"""result.json is a contract: a JSON Schema pins what `measure` writes, and every schema-1
file earlier gameday wrote still reads, keeping every key and value it had."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from harness.errors import InputError
from harness.rehearsal.catalogue import find_scenario
from harness.results.budget import Budget, apply
from harness.results.deploylog import DeployStep
from harness.results.files import write_json
from harness.results.measure import Observed, measure
from harness.results.model import Outcome, Result, ResultFormatError, read_result
from harness.results.records import Record
from tests.unit import recorded

HERE = Path(__file__).parent
SCHEMA = json.loads((HERE / "result.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA)
DATA = HERE / "data"


def run(case: recorded.Case, run_id: str | None = None) -> Result:
    observed = Observed(
        run_id=run_id or f"run-{case.name}", started_at=case.started_at, finished_at=case.finished_at, t0=case.t0,
        timeline=case.timeline, deploy_log=[DeployStep.from_json(e) for e in case.deploy_log],
        releases=case.releases, jobs=case.jobs, actions=case.actions,
        code_rollback_recovered=case.code_rollback_recovered,
        outcome=None if case.outcome is None else Outcome(case.outcome), reason=case.reason,
        environment=case.environment, hygiene=case.hygiene,
    )
    records = [Record(ts, status, latency, failed, "GET /orders", "status 500" if failed else "", release)
               for ts, status, latency, failed, release in case.records]
    return measure(find_scenario(case.scenario), observed, records)


def budgeted() -> Result:
    past = [run(replace(recorded.incident(), started_at=recorded.T0 - 10 - 10000 * k), f"past-{k}") for k in (3, 2, 1)]
    return apply(run(recorded.incident("late", alarm_s=1.2)), past, Budget(20, 5))


def written(result: Result) -> Any:
    """What a reader of the file gets: the JSON text, parsed."""
    return json.loads(json.dumps(result.to_json()))


def errors(data: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(data)]


def contains(new: Any, old: Any, where: str = "") -> list[str]:
    """Where `new` lost or changed a key or value of `old`; added keys are allowed."""
    if isinstance(old, dict):
        if not isinstance(new, dict):
            return [f"{where}: {new!r} is not an object"]
        return [p for k, v in old.items()
                for p in ([f"{where}/{k}: removed"] if k not in new else contains(new[k], v, f"{where}/{k}"))]
    if isinstance(old, list):
        if not isinstance(new, list) or len(new) != len(old):
            return [f"{where}: {new!r} is not {old!r}"]
        return [p for i, (n, o) in enumerate(zip(new, old, strict=True)) for p in contains(n, o, f"{where}/{i}")]
    same = new == old and type(new) is type(old) or (isinstance(old, float) and isinstance(new, int) and new == old)
    return [] if same else [f"{where}: {new!r} is not {old!r}"]


def test_the_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("name", list(recorded.CASES))
def test_measure_writes_what_the_schema_pins(name):
    result = run(recorded.CASES[name])
    assert errors(written(result)) == []


def test_a_result_judged_by_the_regression_budget_fits_the_schema():
    result = budgeted()
    assert result.outcome is Outcome.GAPS and result.regression_budget is not None
    assert errors(written(result)) == []


@pytest.mark.parametrize("name", list(recorded.CASES))
def test_the_codec_round_trips(name):
    result = run(recorded.CASES[name])
    assert Result.from_json(written(result)) == result


def test_the_recorded_cases_cover_each_kind_of_run():
    results = {name: run(case) for name, case in recorded.CASES.items()}
    assert results["clean"].outcome is Outcome.MET and results["clean"].times.impact_s is None
    incident = results["incident"]
    assert incident.outcome is Outcome.MET and incident.recovery.actions == ("rollback",)
    assert incident.times.rollback_done_s is not None and incident.times.recovered_s is not None
    gaps = results["gaps"]
    assert gaps.outcome is Outcome.GAPS and gaps.recovery.code_rollback_recovered is False
    assert {g.name for g in gaps.gaps} == {"failed_requests", "lost_jobs", "false_alarms", "hygiene"}
    assert results["aborted"].outcome is Outcome.ABORTED and results["aborted"].t0 is None
    assert results["error"].outcome is Outcome.ERROR


def test_what_did_not_happen_is_null_not_zero_or_missing():
    data = written(run(recorded.CASES["aborted"]))
    assert data["t0"] is None and data["jobs"] is None and data["hygiene"] is None
    assert data["releases"] == {"before": "r1", "deployed": None, "after": None}
    assert set(data["times"].values()) == {None} and set(data["durations"].values()) == {None}
    assert data["regression_budget"] is None


# --- files earlier code wrote -----------------------------------------------------------

OLD_FILES = sorted(p.name for p in DATA.glob("*.json"))


def test_there_are_old_files_to_read():
    assert {"first-incident.json", "first-gaps.json", "clean.json", "incident.json", "gaps.json", "aborted.json",
            "error.json", "budget.json"} <= set(OLD_FILES)


@pytest.mark.parametrize("name", OLD_FILES)
def test_every_old_schema_1_file_reads_and_keeps_every_key_and_value(name):
    old = json.loads((DATA / name).read_text())
    result = read_result(DATA / name)
    assert result.schema == 1 and result.run_id == old["run_id"]
    assert contains(result.to_json(), old) == []
    assert errors(written(result)) == []  # written again, it is a valid schema-1 file


def test_the_first_schema_1_files_read_their_missing_keys_as_null():
    result = read_result(DATA / "first-gaps.json")
    assert result.description is None
    assert result.times.impact_end_s is None
    assert result.requests.bad_by_window is None
    assert result.hygiene is None and result.regression_budget is None
    assert all(g.regression is False for g in result.gaps)
    assert result.outcome is Outcome.GAPS and result.objective("failed_requests").met is False


@pytest.mark.parametrize("name", ["clean", "incident", "gaps", "aborted", "error"])
def test_measure_writes_every_key_and_value_the_previous_code_wrote(name):
    old = json.loads((DATA / f"{name}.json").read_text())
    assert contains(written(run(recorded.CASES[name])), old) == []


def test_the_budget_writes_every_key_and_value_the_previous_code_wrote():
    old = json.loads((DATA / "budget.json").read_text())
    assert contains(written(budgeted()), old) == []


# --- what from_json refuses -------------------------------------------------------------


def test_a_newer_schema_is_refused_by_name():
    data = json.loads((DATA / "incident.json").read_text())
    with pytest.raises(ResultFormatError, match="^schema: 2 is not a schema this gameday reads"):
        Result.from_json({**data, "schema": 2})


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda d: d.pop("run_id"), "run_id: is required"),
        (lambda d: d.update(outcome="incomplete"), "outcome: must be one of met, gaps, aborted, error"),
        (lambda d: d["requests"].update(total="many"), "requests.total: must be a whole number"),
        (lambda d: d["targets"][1].update(met="yes"), r"targets\[1\]\.met: must be true or false"),
        (lambda d: d["times"].update(detect_s=True), "times.detect_s: must be a number"),
        (lambda d: d.update(steps={}), "steps: must be a list"),
    ],
)
def test_a_wrong_value_names_its_key(change, key):
    data = json.loads((DATA / "incident.json").read_text())
    change(data)
    with pytest.raises(ResultFormatError, match=f"^{key}"):
        Result.from_json(data)


def test_read_result_names_the_file(tmp_path):
    path = tmp_path / "result.json"
    path.write_text('{"schema": 1,')
    with pytest.raises(InputError, match=f"^{re.escape(str(path))}: is not valid JSON"):
        read_result(path)
    write_json(path, {**json.loads((DATA / "incident.json").read_text()), "times": None})
    with pytest.raises(InputError, match=f"^{re.escape(str(path))}: times: must not be null"):
        read_result(path)
