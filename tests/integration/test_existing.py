"""Rehearsing an environment that already exists, through its URL and the team's commands
only. A replica started by `gameday up` stands in for a team's staging: gameday deploys to
it with `gameday deploy` and rolls back with `gameday rollback --run`, as a team's
commands would reach their own, and must measure what the replica mode measures."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.config.target import find_target
from harness.environment.replica import Staging
from tests.integration.test_cli import gameday, labelled
from tests.integration.test_runbook import run

SHOP = find_target("shop")

STAND_IN = """\
name = "stand-in"
first_release = "v1"
locustfile = "{locustfile}"
secrets = ["GAMEDAY_TEST_TOKEN"]
[environment]
url = "{url}"
releases = {releases}
[run]
health_path = "/health"
version_path = "/version"
release_header = "X-Release"
[deploy]
deploy = "{gameday} deploy {{release}} --no-gate --run {run_id}"
rollback = "{gameday} rollback --run {run_id} && echo rolled back with token $GAMEDAY_TEST_TOKEN >&2"
"""
# Secrets a team's stack hands gameday: the URL's password and a token its commands see.
URL_PASSWORD = "s3cret-url-pass"
TOKEN = "tok-4f1d9e2b7c"

# failing-health-check-no-gate, against either target.
SCENARIO = """\
description = "Unhealthy release, gate off: it goes live, a detector fires, rollback recovers"
target = "{target}"
[fault]
kind = "deploy"
release = "bad-health"
gate = false
[detectors.error_rate]
window_s = 1.0
threshold = 0.2
[recovery]
db = "never"
[objectives]
time_to_detect_s = 5
failed_requests = 0
[phases]
baseline_s = 4
stable_s = 3
"""


def rehearse(tmp_path: Path, name: str, target: str) -> tuple[int, dict[str, Any], Path]:
    scenario = tmp_path / f"{name}.toml"
    scenario.write_text(SCENARIO.format(target=target))
    reports = tmp_path / f"{name}-reports"
    reports.mkdir()
    return run(str(scenario), reports)


def test_an_existing_environment_is_rehearsed_through_its_url_and_commands(
    staging: Staging, images: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    up = gameday("up")
    assert up.returncode == 0, up.stderr
    words = up.stdout.strip().splitlines()[-1].split()
    run_id, plain = words[1], words[-1]
    # Its URL carries a password (nginx ignores it), and its commands see a token.
    url = plain.replace("http://", f"http://gameday:{URL_PASSWORD}@")
    monkeypatch.setenv("GAMEDAY_TEST_TOKEN", TOKEN)
    try:
        target = tmp_path / "target.toml"
        target.write_text(STAND_IN.format(
            url=url, run_id=run_id, releases=json.dumps(list(SHOP.releases)), locustfile=SHOP.locustfile,
            gameday=f"{sys.executable} -m harness"))
        code, existing, run_dir = rehearse(tmp_path, "existing", str(target))
        # No replica of its own: only the stand-in's containers exist for the stand-in.
        assert labelled(staging, existing["run_id"]) == 0
        assert existing["environment"]["images"]["environment"] == plain.replace("http://", "http://gameday:***@")
        assert code == 1 and existing["outcome"] == "gaps", existing["reason"]
        # What was live came from the app itself: the deployed release went live, and the
        # team's rollback command brought the start release back.
        assert existing["incident"]["went_live"] is True
        assert existing["releases"]["after"] == existing["releases"]["before"]
        assert existing["recovery"]["actions"] == [f"{sys.executable} -m harness rollback --run {run_id} && echo "
                                                   "rolled back with token $GAMEDAY_TEST_TOKEN >&2"]
        # The token reached the rollback's output, and was masked there.
        finished = [json.loads(line) for line in (run_dir / "timeline.jsonl").read_text().splitlines()
                    if '"rollback_finished"' in line]
        assert finished and "rolled back with token ***" in finished[0]["detail"], finished
        # Neither secret is in any file the run wrote: result, timeline, records, logs, JUnit, report.
        written = sorted(p for p in (tmp_path / "existing-reports").rglob("*") if p.is_file())
        assert {"result.json", "timeline.jsonl", "junit.xml", "report.html", "locust.log"} <= {p.name for p in written}
        for path in written:
            text = path.read_text(errors="replace")
            assert URL_PASSWORD not in text and TOKEN not in text, path
        assert existing["times"]["recovered_s"] is not None
        # Nothing needed the host: the schema was not fingerprinted, and said why.
        fingerprints = [json.loads(line) for line in (run_dir / "timeline.jsonl").read_text().splitlines()
                        if '"schema_fingerprinted"' in line]
        assert fingerprints and all(f["statements"] is None and "no shell" in f["detail"] for f in fingerprints)
    finally:
        down = gameday("down", "--run", run_id)
    assert down.returncode == 0, down.stderr
    assert labelled(staging, run_id) == 0

    # The same scenario on a replica of the same app, with host access.
    code, replica, _ = rehearse(tmp_path, "replica", "shop")
    assert replica["outcome"] == existing["outcome"] and replica["incident"]["went_live"] is True
    # Detection watches the same front door either way: the same time to detect, give or
    # take what a busy machine adds to one run and not the other.
    for key in ("time_to_detect_s",):
        assert abs(existing["durations"][key] - replica["durations"][key]) <= 1.0, (key, existing, replica)
