"""Feature flags on the real replica: the new checkout's broken path turned on for a share
of users, and mitigated by flipping the flag off or by rolling the release back."""

from __future__ import annotations

import statistics
from pathlib import Path

from harness.environment.replica import Staging
from tests.integration.browser import open_in_chromium
from tests.integration.test_runbook import no_leftovers, run


def test_the_kill_switch_ends_each_round_and_the_blast_radius_grows_with_the_rollout(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("flag-kill-switch", tmp_path / "reports")
    assert code == 0 and result["outcome"] == "met", (result["reason"], result["gaps"])
    small, large = result["rounds"]
    assert (small["percent"], large["percent"]) == (5, 50)
    for r in (small, large):
        assert r["mitigation"] == "flag-off" and r["failed"] > 0, r
        assert r["detect_s"] is not None and r["mitigated_s"] is not None and r["recovered_s"] is not None, r
        assert r["mitigated_s"] >= r["detect_s"]
    assert large["blast_radius"] > small["blast_radius"], (small, large)
    assert "new_checkout" in result["incident"]["cause"] and result["hygiene"]["clean"], result["hygiene"]
    page = open_in_chromium(run_dir / "report.html", "flag-kill-switch",
                            ("#rounds tbody tr", "#rollout-shares tbody tr", "#mitigations tbody tr"))
    assert page.errors == [] and page.present["#rounds tbody tr"] == 2
    assert page.present["#rollout-shares tbody tr"] == 2 and page.present["#mitigations tbody tr"] == 1
    no_leftovers(staging, result)


def test_flipping_the_flag_mitigates_faster_than_rolling_back_in_the_same_run(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("flag-vs-rollback", tmp_path / "reports")
    assert code == 0 and result["outcome"] == "met", (result["reason"], result["gaps"])
    by = {m: [r for r in result["rounds"] if r["mitigation"] == m] for m in ("flag-off", "rollback")}
    assert len(by["flag-off"]) == len(by["rollback"]) == 3
    medians = {m: statistics.median(r["time_to_mitigate_s"] for r in rounds) for m, rounds in by.items()}
    assert medians["flag-off"] < medians["rollback"], medians
    actions = result["recovery"]["actions"]
    assert actions.count("rollback") == 3 and sum(a.startswith("psql ") for a in actions) == 3, actions
    page = open_in_chromium(run_dir / "report.html", "flag-vs-rollback", ("#mitigations tbody tr",))
    assert page.errors == [] and page.present["#mitigations tbody tr"] == 2
    no_leftovers(staging, result)
