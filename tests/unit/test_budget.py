import json

from harness.results.budget import Budget, apply, history
from tests.unit.test_report import T0, make_run


def results(tmp_path, shifts):
    runs = [make_run(tmp_path, started=T0 - 10000 * (len(shifts) - i), shift=s) for i, s in enumerate(shifts)]
    return [json.loads((r / "result.json").read_text()) for r in runs]


def test_a_target_fails_when_worse_than_the_recent_median(tmp_path):
    *past, latest = results(tmp_path, [0.0, 0.0, 0.0, 1.0])
    assert latest["outcome"] == "met"  # within its absolute targets
    judged = apply(latest, past, Budget(pct=20, runs=5))
    assert judged["outcome"] == "gaps"
    detect = next(t for t in judged["targets"] if t["name"] == "time_to_detect_s")
    assert detect["met"] is False and detect["regression"]["median"] == 0.12
    gap = next(g for g in judged["gaps"] if g["name"] == "time_to_detect_s")
    assert gap["regression"] is True and "worse than the median" in gap["cause"]


def test_no_regression_within_budget_or_noise(tmp_path):
    *past, latest = results(tmp_path, [0.0, 0.0, 0.0, 0.0])
    assert apply(latest, past, Budget(pct=20))["outcome"] == "met"
    assert apply(latest, [], Budget(pct=20)) is latest


def test_history_takes_the_last_runs_of_that_scenario_before_this_one(tmp_path):
    found = results(tmp_path, [0.0, 0.0, 0.0])
    past = history(tmp_path, "failing-health-check-no-gate", found[-1]["started_at"], runs=1)
    assert [r["run_id"] for r in past] == [found[1]["run_id"]]
    assert history(tmp_path, "clean-deploy", "9999", runs=5) == []
