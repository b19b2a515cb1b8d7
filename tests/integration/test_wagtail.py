"""A real app nobody here wrote: a site made by `wagtail start`, built per release (a venv
from its own pinned requirements, collectstatic), upgraded from Wagtail 7.0 to 7.1 under
load (two real Django migrations), then rolled back, code and schema."""

from __future__ import annotations

import json
from pathlib import Path

from harness.environment.replica import Staging
from tests.integration.test_runbook import no_leftovers, report_checks_out, run

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "wagtail"


def test_the_wagtail_upgrade_is_rehearsed_and_rolled_back_code_and_schema(staging: Staging, tmp_path: Path) -> None:
    code, result, run_dir = run(str(EXAMPLE / "upgrade.toml"), tmp_path)
    assert result["outcome"] in ("met", "gaps"), result["reason"]
    assert code == (0 if result["outcome"] == "met" else 1)
    assert result["target"] == "wagtail" and result["jobs"] is None
    assert result["requests"]["total"] > 100 and result["requests"]["served_by_deployed"] is None
    assert result["recovery"]["actions"] == ["rollback --db"]
    assert result["releases"]["after"] == result["releases"]["before"] != result["releases"]["deployed"]
    steps = {(s["action"], s["name"]): s for s in result["steps"]}
    assert steps[("deploy", "build")]["ok"] and "pip" in steps[("deploy", "build")]["detail"]
    assert "0095_groupsitepermission" in steps[("deploy", "migrate")]["detail"]
    db = steps[("rollback", "db")]
    assert db["ok"] and "wagtailcore: 0095_groupsitepermission -> 0094" in db["detail"], db
    times, durations = result["times"], result["durations"]
    assert times["rollback_started_s"] is not None and durations["time_to_rollback_s"] is not None
    # Either something failed and was measured from impact to recovery, or nothing failed.
    if result["requests"]["failed"]:
        assert None not in (times["impact_s"], times["detect_s"], times["recovered_s"]), times
    report_checks_out(run_dir, result)
    page = (run_dir / "report.html").read_text()
    assert f"{durations['time_to_rollback_s']:.2f}" in page and "rollback --db" in page
    assert json.loads((run_dir / "result.json").read_text())["run_id"] == result["run_id"]
    no_leftovers(staging, result)
