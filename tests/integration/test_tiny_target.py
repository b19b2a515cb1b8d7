"""A second target nothing in the harness was written for: no worker, no job queue, no
release header. A clean rehearsal of it is met, and what it lacks is null, not judged."""

from __future__ import annotations

from pathlib import Path

from harness.environment.replica import Staging
from tests.integration.test_runbook import no_leftovers, run

TINY = Path(__file__).resolve().parents[1] / "targets" / "tiny"


def test_a_clean_deploy_of_the_tiny_target_is_met(staging: Staging, tmp_path: Path) -> None:
    code, result, run_dir = run(str(TINY / "clean-deploy.toml"), tmp_path)
    assert code == 0, (result["outcome"], result["reason"], result["gaps"])
    assert result["outcome"] == "met"
    assert result["target"] == "tiny"
    assert result["requests"]["total"] > 200 and result["requests"]["failed"] == 0
    assert result["jobs"] is None
    assert result["requests"]["served_by_deployed"] is None
    lost_jobs = next(t for t in result["targets"] if t["name"] == "lost_jobs")
    assert lost_jobs["measured"] is None and lost_jobs["met"] is None
    assert result["recovery"]["actions"] == ["rollback"]
    assert result["releases"]["after"] == result["releases"]["before"] != result["releases"]["deployed"]
    assert result["hygiene"]["clean"], result["hygiene"]
    no_leftovers(staging, result)
