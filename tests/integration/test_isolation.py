"""Two game days on one machine, and what a run writes: no collisions, no secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import docker_stack
from harness.config.scenario import find_scenario
from harness.environment import replica as staging_module
from harness.environment.images import Images
from harness.environment.replica import Staging
from harness.rehearsal.runbook import rehearse
from harness.results.timeline import read_jsonl

# Serial: it runs two rehearsals at once itself.
pytestmark = pytest.mark.serial


def test_two_game_days_at_once_do_not_collide(staging: Staging, images: Images, tmp_path: Path) -> None:
    runs = {name: subprocess.Popen([sys.executable, "-m", "harness", "run", name, "--quiet", "--reports",
                                    str(tmp_path / name)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=dict(os.environ))
            for name in ("clean-deploy", "failing-health-check-no-gate")}
    for proc in runs.values():
        proc.communicate(timeout=600)
    results, urls = {}, {}
    for name in runs:
        run_dir = next((tmp_path / name).iterdir())
        results[name] = json.loads((run_dir / "result.json").read_text())
        urls[name] = next(e["url"] for e in read_jsonl(run_dir / "timeline.jsonl") if e["event"] == "replica_started")
    assert results["clean-deploy"]["run_id"] != results["failing-health-check-no-gate"]["run_id"]
    assert urls["clean-deploy"] != urls["failing-health-check-no-gate"]
    # Each measured only its own traffic: the broken one's failures never reach the control.
    assert results["clean-deploy"]["requests"]["failed"] == 0
    assert results["clean-deploy"]["outcome"] == "met"
    assert results["failing-health-check-no-gate"]["requests"]["failed"] > 0
    for result in results.values():
        assert result["run_id"] not in staging.run_ids()


def test_database_passwords_never_reach_the_reports(staging: Staging, images: Images, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cret-gameday-password-for-this-test"
    monkeypatch.setattr(staging_module.secrets, "token_urlsafe", lambda n: secret)
    scenario = find_scenario("failing-health-check-no-gate")
    run_dir, result = rehearse(scenario, docker_stack(staging, scenario.target, images), tmp_path, say=lambda m: None)
    assert result.outcome in ("met", "gaps")
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"result.json", "timeline.jsonl", "requests.jsonl", "report.html",
                                        "junit.xml", "locust.log", "run.json"}
    for path in files:
        assert secret not in path.read_text(errors="replace"), path
