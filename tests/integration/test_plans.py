"""Expand and contract, rehearsed on the real replica: the rename of orders.customer in
five steps, in the right order and in the wrong one, each step deployed under load,
rolled back and rolled forward; the right order also measures its compatibility matrix."""

from __future__ import annotations

import json
from pathlib import Path

from harness.environment.replica import Staging
from tests.integration.browser import check_report, open_in_chromium
from tests.integration.test_runbook import no_leftovers, run
from tests.integration.test_stories import served_at_end

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# The matrix shop's rename must give: release → (after start, after expand, after contract).
EXPECTED = {
    "v1": (True, True, False),
    "rename-expand": (True, True, False),
    "rename-write-both": (False, True, False),
    "rename-backfill": (False, True, False),
    "rename-read-new": (False, True, True),
    "rename-contract": (False, True, True),
}


def test_the_right_order_drops_no_request_in_any_step_and_measures_the_matrix(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("expand-contract", tmp_path / "reports")
    assert code == 0 and result["outcome"] == "met", (result["reason"], result["gaps"])
    plan = result["plan"]
    assert [s["name"] for s in plan["steps"]] == ["expand", "write-both", "backfill", "read-new", "contract"]
    for step in plan["steps"]:
        assert step["failed"] == 0 and step["requests"] > 0, step
        assert step["rollback_safe"] is True and step["rollback_failed"] == 0, step
        assert step["p95_ms"] is not None and step["deploy_exit_status"] == 0
    assert [s["after"] for s in plan["states"]] == ["start", "expand", "contract"]
    found = {(c["release"], c["state"]): c for c in plan["matrix"]}
    for release, verdicts in EXPECTED.items():
        for state, serves in enumerate(verdicts):
            cell = found[release, state]
            assert cell["requests"] > 0 and cell["serves"] is serves, (release, state, cell)
    assert result["incident"]["cause"] is None and result["hygiene"]["clean"], result["hygiene"]
    # The matrix put back what the plan left: the release that served the plan's last
    # requests is live again, and /health (hygiene, above) answers 200 on the restored schema.
    assert served_at_end(run_dir) == {result["releases"]["after"]}
    page = open_in_chromium(run_dir / "report.html", "expand-contract",
                            ("#plan-steps tbody tr", "table#compatibility-matrix tbody tr",
                             "table#compatibility-matrix .pill.bad", "table#compatibility-matrix .pill.ok"))
    assert page.errors == []
    assert page.present["#plan-steps tbody tr"] == 5
    assert page.present["table#compatibility-matrix tbody tr"] == 6
    assert page.present["table#compatibility-matrix .pill.ok"] == sum(sum(v) for v in EXPECTED.values())
    check_report(run_dir, "expand-contract-report")
    no_leftovers(staging, result)


def test_the_wrong_order_fails_at_the_contract_step_and_names_it(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("expand-contract-wrong-order", tmp_path / "reports")
    assert code == 1 and result["outcome"] == "gaps", result["reason"]
    steps = {s["name"]: s for s in result["plan"]["steps"]}
    for name in ("expand", "write-both", "backfill"):
        assert steps[name]["failed"] == 0 and steps[name]["rollback_safe"] is True, steps[name]
    contract = steps["contract"]
    assert contract["index"] == 4 and contract["failed"] > 0 and not contract["failing_before"]
    # Rolling the contract back puts the write-both code back on a schema without its column.
    assert contract["rollback_safe"] is False and "rename-backfill" in contract["why"]
    assert result["incident"]["cause"].startswith("step 4 (contract, release rename-contract-early) failed")
    gaps = [g["name"] for g in result["gaps"]]
    assert gaps[:2] == ["step_4_failed_requests", "step_4_rollback_unsafe"]
    assert not any(g.startswith(("step_1", "step_2", "step_3")) for g in gaps)
    assert result["plan"]["matrix"] == []
    page = open_in_chromium(run_dir / "report.html", "expand-contract-wrong-order",
                            ("#plan-steps tbody tr", "#plan-steps .pill.bad", "#what-happened"))
    assert page.errors == [] and page.present["#plan-steps tbody tr"] == 5
    assert page.present["#plan-steps .pill.bad"] >= 2 and page.present["#what-happened"] == 1
    no_leftovers(staging, result)


def test_the_plan_and_its_matrix_work_through_a_teams_own_deploy_script(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run(str(EXAMPLES / "ssh-script" / "expand-contract.toml"), tmp_path / "reports")
    assert code == 0 and result["outcome"] == "met", (result["reason"], result["gaps"])
    plan = result["plan"]
    for step in plan["steps"]:
        assert step["failed"] == 0 and step["rollback_safe"] is True, step
    commands = [e["command"] for e in map(json.loads, (run_dir / "timeline.jsonl").read_text().splitlines())
                if e["event"] == "plan_step_started"]
    assert commands[:3] == ["./deploy.sh deploy rename-expand", "./deploy.sh rollback",
                            "./deploy.sh deploy rename-expand"], commands[:3]
    found = {(c["release"], c["state"]): c["serves"] for c in plan["matrix"]}
    assert found == {(release, state): serves for release, verdicts in EXPECTED.items()
                     for state, serves in enumerate(verdicts)}
    no_leftovers(staging, result)
