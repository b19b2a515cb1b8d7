"""What a run writes: no secrets. (Two game days at once: tests/integration/test_nightly.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import docker_stack
from harness.environment import replica as staging_module
from harness.environment.images import Images
from harness.environment.replica import Staging
from harness.rehearsal.catalogue import find_scenario
from harness.rehearsal.runbook import rehearse


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
