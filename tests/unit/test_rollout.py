"""A plan's per-step table and compatibility matrix, computed from recorded events and
request records: no Docker, no clock."""

from __future__ import annotations

from typing import Any

import pytest

from harness.errors import InputError
from harness.rehearsal.catalogue import find_scenario, load_scenario
from harness.results.measure import Observed, measure
from harness.results.model import PlanResult, Result
from harness.results.records import Record
from harness.results.rollout import first_failing_step, matrix, p95, plan_result, plan_steps
from harness.results.timeline import Event
from tests.unit.test_result_schema import errors, written

T0 = 1_800_000_000.0


def requests(start: float, end: float, failing: tuple[float, float] | None = None, latency: float = 10.0,
             name: str = "GET /orders") -> list[Record]:
    """20 req/s from start to end (seconds after T0), failing with 500 inside `failing`."""
    found = []
    for i in range(int((end - start) * 20)):
        ts = T0 + start + i / 20
        bad = failing is not None and T0 + failing[0] <= ts < T0 + failing[1]
        found.append(Record(ts, 500 if bad else 200, latency, bad, name))
    return found


def action(index: int, step: str, release: str, kind: str, start: float, took: float, settle: float = 3.0,
           exit_status: int = 0) -> list[dict[str, Any]]:
    fields = {"index": index, "step": step, "release": release, "action": kind}
    return [{"ts": T0 + start, "event": Event.PLAN_STEP_STARTED, **fields, "command": f"deploy {kind}"},
            {"ts": T0 + start + took, "event": Event.PLAN_STEP_FINISHED, **fields, "exit_status": exit_status,
             "detail": "", "output": []},
            {"ts": T0 + start + took + settle, "event": Event.PLAN_STEP_SETTLED, **fields}]


def round_trip(index: int, step: str, release: str, start: float) -> list[dict[str, Any]]:
    """A step deployed at `start`, rolled back at +5 s and forward at +10 s (each 2 s, settling 3 s)."""
    return (action(index, step, release, "deploy", start, 2) + action(index, step, release, "rollback", start + 5, 2)
            + action(index, step, release, "forward", start + 10, 2))


def test_p95_is_the_nearest_rank_percentile():
    assert p95([]) is None
    assert p95([float(n) for n in range(1, 101)]) == 95.0
    assert p95([7.0]) == 7.0


def test_a_clean_round_trip_is_safe_and_a_failing_one_names_the_release_it_went_back_to():
    events = round_trip(1, "expand", "r-expand", 0) + round_trip(2, "contract", "r-contract", 15)
    # The contract breaks the release before it: failures from its deploy on, through its round trip.
    records = requests(-5, 30, failing=(16, 30))
    steps = plan_steps(events, records, T0, "v1")
    first, second = steps
    assert (first.failed, first.rollback_failed, first.rollback_safe) == (0, 0, True)
    assert first.why == f"yes: back to v1 and forward again, all {first.rollback_requests} requests served"
    assert first.requests == 5 * 20 and first.duration_s == 2.0 and first.started_s == 0.0
    assert second.failed == 4 * 20 and second.requests == 5 * 20
    assert second.rollback_safe is False and second.rollback_failed == second.rollback_requests == 10 * 20
    assert "once r-expand was live again" in second.why and second.failure == "HTTP 500 on GET /orders"
    assert not first.failing_before and not second.failing_before


def test_a_step_that_begins_with_requests_already_failing_says_so():
    events = round_trip(1, "contract", "r-early", 0) + round_trip(2, "read-new", "r-read-new", 15)
    records = requests(-5, 30, failing=(1, 16))
    first, second = plan_steps(events, records, T0, "v1")
    assert first.failed and not first.failing_before
    assert second.failed and second.failing_before


def test_a_failed_rollback_command_is_not_safe_whatever_the_requests_did():
    events = (action(1, "expand", "r-expand", "deploy", 0, 2)
              + action(1, "expand", "r-expand", "rollback", 5, 1, exit_status=2))
    (step,) = plan_steps(events, requests(-5, 15), T0, "v1")
    assert step.rollback_safe is False and step.why.startswith("no: `deploy rollback` exited 2")


def test_without_a_round_trip_rollback_safety_is_unknown():
    (step,) = plan_steps(action(1, "expand", "r-expand", "deploy", 0, 2), requests(-5, 10), T0, "v1")
    assert step.rollback_safe is None and step.rollback_requests is None and "round_trip = false" in step.why


def test_the_matrix_judges_each_cell_from_its_own_burst():
    def cell(release: str, state: int, start: float, end: float) -> dict[str, Any]:
        return {"ts": T0 + end, "event": Event.MATRIX_CELL_MEASURED, "release": release, "release_dir": "d",
                "state": state, "from_ts": T0 + start, "until_ts": T0 + end, "serving": True}

    events = [cell("v1", 1, 0, 2), cell("v1", 0, 4, 6), cell("r-read-new", 0, 8, 10),
              {"ts": T0 + 11, "event": Event.MATRIX_CELL_SKIPPED, "release": "r-gone", "state": 0, "reason": "gone"},
              cell("r-quiet", 0, 20, 22)]
    records = requests(0, 12, failing=(8.5, 9.0)) + [Record(T0 + 9.5, 500, 5.0, True, "POST /orders", "status 500")]
    cells = {(c.release, c.state): c for c in matrix(events, records)}
    assert cells["v1", 1].serves is True and cells["v1", 1].detail == "40 served"
    assert cells["v1", 0].serves is True
    bad = cells["r-read-new", 0]
    assert bad.serves is False and bad.failed == 11 and bad.requests == 41
    assert bad.detail == "11 of 41 failed: HTTP 500 on GET /orders"
    assert cells["r-gone", 0].serves is None and cells["r-gone", 0].detail == "gone"
    assert cells["r-quiet", 0].serves is False and cells["r-quiet", 0].detail == "no request completed in the burst"


def test_states_and_rows_come_in_plan_order_and_the_final_copy_is_not_a_state():
    events = [{"ts": T0, "event": Event.SCHEMA_STATE_SAVED, "index": 0, "after": "start", "columns": "t.a"},
              {"ts": T0 + 1, "event": Event.SCHEMA_STATE_SAVED, "index": 1, "after": "expand", "columns": "t.a, t.b"},
              {"ts": T0 + 2, "event": Event.SCHEMA_STATE_SAVED, "index": 2, "after": "end of plan",
               "columns": "t.a, t.b", "final": True}]
    result = plan_result(events, requests(-5, 5, latency=12.0), [], T0, "v1")
    assert [(s.index, s.after) for s in result.states] == [(0, "start"), (1, "expand")]
    assert result.baseline_p95_ms == 12.0 and result.steps == () and result.matrix == ()
    assert PlanResult.from_json(result.to_json()) == result


def test_the_wrong_order_names_its_failing_step_in_the_result_and_its_gaps():
    scenario = find_scenario("expand-contract-wrong-order")
    names = [(s.name, s.release) for s in scenario.plan.steps] if scenario.plan else []
    events = [{"ts": T0, "event": Event.FAULT_INJECTED, "kind": "plan"}]
    for index, (name, release) in enumerate(names, 1):
        events += round_trip(index, name, release, 15 * (index - 1))
    contract = 15 * 3  # step 4 starts here; the read switch (step 5) ends the failures
    observed = Observed(run_id="r", started_at=T0 - 10, finished_at=T0 + 80, t0=T0, timeline=events,
                        deploy_log=[], releases={"before": "a", "deployed": None, "after": "b"},
                        jobs={"enqueued": 5, "completed": 5, "lost": 0, "duplicated": 0})
    result = measure(scenario, observed, requests(-10, 80, failing=(contract + 1, contract + 17)))
    assert result.plan is not None
    failing = first_failing_step(result.plan)
    assert failing is not None and (failing.index, failing.name) == (4, "contract")
    assert result.incident.cause is not None and result.incident.cause.startswith(
        "step 4 (contract, release rename-contract-early) failed")
    gaps = {g.name: g for g in result.gaps}
    assert {"step_4_failed_requests", "step_4_rollback_unsafe"} <= set(gaps)
    assert "already failing" in gaps["step_5_failed_requests"].cause
    assert not any(name.startswith(("step_1", "step_2", "step_3")) for name in gaps)
    assert result.times.rollback_started_s is None  # planned round trips are not a recovery
    assert Result.from_json(result.to_json()) == result
    assert errors(written(result)) == []  # the plan's keys are pinned by the result schema


def test_plan_keys_are_validated_with_file_and_key(tmp_path):
    def scenario(text: str) -> InputError:
        path = tmp_path / "s.toml"
        path.write_text(text + "\n[detectors.error_rate]\n")
        with pytest.raises(InputError) as caught:
            load_scenario(path)
        return caught.value

    steps = '[[plan.steps]]\nname = "expand"\nrelease = "rename-expand"\n'
    assert scenario('[fault]\nrelease = "v2"\n[plan]\n' + steps).key == "plan"
    assert scenario("[plan]\nsettle_s = 1\n").key == "plan.steps"
    wrong = scenario('[[plan.steps]]\nname = "x"\nrelease = "v9"\n')
    assert wrong.key == "plan.steps[1].release" and "'v9' is not a release of shop" in wrong.problem
    assert scenario('[[plan.steps]]\nname = "x"\nrelease = "v1"\n').key == "plan.steps[1].release"
    assert scenario("[plan]\nburst_s = 0\n" + steps).key == "plan.burst_s"
    twice = scenario(steps + '[[plan.steps]]\nname = "expand"\nrelease = "rename-contract"\n')
    assert twice.key == "plan.steps[2].name" and "names an earlier step" in twice.problem
    ignored = scenario(steps + '[recovery]\ndb = "always"\n')
    assert ignored.key == "recovery.db" and "a [plan] rolls each step back itself" in ignored.problem


def test_the_built_in_plans_load():
    plan = find_scenario("expand-contract").plan
    assert plan is not None and plan.matrix and plan.round_trip
    assert [s.name for s in plan.steps] == ["expand", "write-both", "backfill", "read-new", "contract"]
    wrong = find_scenario("expand-contract-wrong-order").plan
    assert wrong is not None and [s.name for s in wrong.steps][3:] == ["contract", "read-new"]
