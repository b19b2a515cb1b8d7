"""The catalogue of deploy and rollback failures: each scenario runs and its result names
the outcome and the cause, the clean-round-trip check and the lint class of its gaps."""

from __future__ import annotations

from pathlib import Path

from harness.environment.replica import Staging
from tests.integration.browser import check_report, open_in_chromium
from tests.integration.test_runbook import no_leftovers, run

PREVENTABLE = "preventable before deploy"


def test_a_required_column_fails_the_old_releases_writes_while_health_stays_green(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("required-column", tmp_path)
    assert code == 1 and result["outcome"] == "gaps", result["reason"]
    # Only the request stream saw it: /health stayed green the whole time.
    ladder = {r["detector"]: r["detect_s"] for r in result["detection"]["ladder"]}
    assert ladder["error_rate"] is not None and ladder["health"] is None
    assert result["recovery"]["code_rollback_recovered"] is False
    assert result["recovery"]["actions"] == ["rollback", "rollback --db-only"]
    assert "code rollback alone did not recover" in result["incident"]["cause"]
    assert result["times"]["recovered_s"] is not None
    # The region column went with the db step: the schema is as before the deploy.
    assert [c["clean"] for c in result["schema_checks"]] == [True]
    # Lint saw it coming: dropping the default is what makes v1's inserts fail.
    assert any(f["rule"] == "ban-drop-default" and f["release"] == "required-column"
               for f in result["lint"]["findings"])
    assert result["gaps"] and all(g["prevention"] == PREVENTABLE and "ban-drop-default" in g["rules"]
                                  for g in result["gaps"]), result["gaps"]
    assert result["hygiene"]["clean"], result["hygiene"]
    no_leftovers(staging, result)


def test_an_incomplete_down_migration_leaves_its_type_behind(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("incomplete-down", tmp_path)
    # No request failed, yet the round trip is not clean: the rollback only seemed to work.
    assert result["requests"]["failed_in_incident"] == 0
    assert result["recovery"]["actions"] == ["rollback --db"]
    assert code == 1 and result["outcome"] == "gaps", result["gaps"]
    [check] = result["schema_checks"]
    assert check["clean"] is False
    assert check["leftover"] == ["type order_status"] and check["missing"] == []
    [gap] = [g for g in result["gaps"] if g["name"] == "schema_round_trip"]
    assert "type order_status" in gap["cause"] and gap["measured"] == 1
    # squawk lints up scripts: nothing in them predicts a down script's leftover.
    assert gap["prevention"] == "needed runtime detection" and gap["rules"] == []
    junit = (run_dir / "junit.xml").read_text()
    assert 'name="schema_round_trip"' in junit and 'value="needed runtime detection"' in junit
    check_report(run_dir, "incomplete-down")
    page = open_in_chromium(run_dir / "report.html", "incomplete-down-sections",
                            ("#schema-checks", "#lint", "#gap-table td.prevention"))
    assert page.present["#schema-checks"] == 1 and page.present["#lint"] == 1
    assert page.present["#gap-table td.prevention"] == 1
    no_leftovers(staging, result)
