"""The realpath trap's gap, from records and the deploy log alone."""

from harness.results.deploylog import DeployStep
from harness.results.measure import STALE_SERVING_S, Observed, stale_serving_gaps
from harness.results.records import Record

T0 = 1000.0


def observed(*swaps: float) -> Observed:
    log = [DeployStep(ts, "deploy" if i == 0 else "rollback", "swap", None, "new" if i == 0 else "old", True, 0.01, "")
           for i, ts in enumerate(swaps)]
    return Observed("run", T0 - 10, T0 + 60, T0, [], log, {"before": "old", "deployed": "new", "after": "old"}, None)


def answers(start: float, end: float, release: str, failed: bool = False) -> list[Record]:
    return [Record(start + i * 0.1, 502 if failed else 200, 5.0, failed, "GET /orders", "", release)
            for i in range(int((end - start) / 0.1))]


def test_the_old_release_answering_long_after_the_swap_is_the_gap():
    records = answers(T0, T0 + 20, "old")
    [gap] = stale_serving_gaps(observed(T0 + 1, T0 + 20), records, T0)
    assert gap.name == "served_release_lag" and gap.objective == STALE_SERVING_S
    assert 18 < (gap.measured or 0) < 19.1 and "never answered" in gap.cause and "realpath trap" in gap.cause


def test_a_release_that_takes_over_within_a_second_is_no_gap():
    records = answers(T0, T0 + 1.5, "old") + answers(T0 + 1.5, T0 + 20, "new")
    assert stale_serving_gaps(observed(T0 + 1, T0 + 20), records, T0) == []


def test_an_unbootable_release_is_not_the_trap():
    # Nothing answers after the swap: failures, not the old release serving.
    records = answers(T0, T0 + 1, "old") + answers(T0 + 1, T0 + 20, "", failed=True)
    assert stale_serving_gaps(observed(T0 + 1, T0 + 20), records, T0) == []


def test_a_rollback_swap_before_the_deploy_is_not_the_window():
    # A flag round rolls back (to old) before the release is deployed again: old answering
    # after that swap is right; the window is the deploy's own swap to the deployed release.
    log = [DeployStep(T0 + 1, "rollback", "swap", None, "old", True, 0.01, ""),
           DeployStep(T0 + 12, "deploy", "swap", None, "new", True, 0.01, "")]
    seen = Observed("run", T0 - 10, T0 + 60, T0, [], log, {"before": "old", "deployed": "new", "after": "new"}, None)
    records = answers(T0, T0 + 12, "old") + answers(T0 + 12, T0 + 20, "new")
    assert stale_serving_gaps(seen, records, T0) == []
