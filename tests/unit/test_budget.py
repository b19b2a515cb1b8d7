from harness.results.budget import Budget, apply, history
from harness.results.model import Outcome, read_result
from tests.unit.test_report import T0, make_run


def results(tmp_path, shifts):
    runs = [make_run(tmp_path, started=T0 - 10000 * (len(shifts) - i), shift=s) for i, s in enumerate(shifts)]
    return [read_result(r / "result.json") for r in runs]


def test_an_objective_fails_when_worse_than_the_recent_median(tmp_path):
    *past, latest = results(tmp_path, [0.0, 0.0, 0.0, 1.0])
    assert latest.outcome is Outcome.MET  # within its absolute objectives
    judged = apply(latest, past, Budget(pct=20, runs=5))
    assert judged.outcome is Outcome.GAPS
    detect = judged.objective("time_to_detect_s")
    assert detect.met is False and detect.regression.median == 0.12
    gap = next(g for g in judged.gaps if g.name == "time_to_detect_s")
    assert gap.regression is True and "worse than the median" in gap.cause
    assert judged.regression_budget.history == 3
    written = judged.to_json()
    assert written["targets"][0]["regression"] == {"median": 0.12, "runs": 3, "budget_pct": 20}
    assert written["regression_budget"] == {"pct": 20, "runs": 5, "history": 3}


def test_no_regression_within_budget_or_noise(tmp_path):
    *past, latest = results(tmp_path, [0.0, 0.0, 0.0, 0.0])
    assert apply(latest, past, Budget(pct=20)).outcome is Outcome.MET
    assert apply(latest, [], Budget(pct=20)) is latest


def test_a_run_that_did_not_finish_is_not_judged(tmp_path):
    from dataclasses import replace

    *past, latest = results(tmp_path, [0.0, 0.0, 1.0])
    aborted = replace(latest, outcome=Outcome.ABORTED)
    assert apply(aborted, past, Budget(pct=20)) is aborted


def test_history_takes_the_last_runs_of_that_scenario_before_this_one(tmp_path):
    found = results(tmp_path, [0.0, 0.0, 0.0])
    past = history(tmp_path, "failing-health-check-no-gate", found[-1].started_at, runs=1)
    assert [r.run_id for r in past] == [found[1].run_id]
    assert history(tmp_path, "clean-deploy", "9999", runs=5) == []


def test_history_skips_an_unreadable_result(tmp_path):
    found = results(tmp_path, [0.0, 0.0])
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "result.json").write_text('{"schema": 1, "run_id": ')
    past = history(tmp_path, "failing-health-check-no-gate", "9999", runs=5)
    assert [r.run_id for r in past] == [r.run_id for r in found]
