"""A team's own stack: the example deploy tools (Capistrano, a bash script over SSH) deploy
and roll back shop in the replica, timed by the rehearsal; and a team's bad input (a build
that fails, a version path that names no release) stops before anything runs."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.config.target import find_target
from harness.environment.images import DEFAULT_BASE_IMAGE, ensure_images
from harness.environment.replica import Staging, new_run_id
from tests.integration.browser import open_in_chromium
from tests.integration.test_cli import gameday_process, left_by
from tests.integration.test_runbook import no_leftovers, run
from tests.integration.test_stories import served_at_end

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TINY = Path(__file__).resolve().parents[1] / "targets" / "tiny"
TOOLS = {"capistrano": "cap staging deploy:rollback", "ssh-script": "./deploy.sh rollback"}


def ends_where_it_started(result: dict[str, Any]) -> None:
    releases = result["releases"]
    assert releases["after"] == releases["before"] != releases["deployed"], releases


@pytest.mark.parametrize("example", sorted(TOOLS))
def test_the_teams_clean_deploy_and_rollback_drop_no_request(example: str, staging: Staging, tmp_path: Path) -> None:
    code, result, run_dir = run(str(EXAMPLES / example / "clean-deploy.toml"), tmp_path)
    assert code == 0, (result["outcome"], result["reason"], result["gaps"])
    assert result["requests"]["total"] > 200 and result["requests"]["failed"] == 0
    assert result["recovery"]["actions"] == [TOOLS[example]]
    ends_where_it_started(result)
    assert result["incident"]["went_live"] is True and result["incident"]["deploy_exit_status"] == 0
    assert result["hygiene"]["clean"], result["hygiene"]
    no_leftovers(staging, result)


@pytest.mark.parametrize("example", sorted(TOOLS))
def test_a_failing_release_goes_live_without_a_gate_and_the_teams_rollback_recovers(
    example: str, staging: Staging, tmp_path: Path
) -> None:
    code, result, run_dir = run(str(EXAMPLES / example / "failing-release.toml"), tmp_path)
    assert result["outcome"] in ("met", "gaps"), result["reason"]
    assert code == (0 if result["outcome"] == "met" else 1)
    assert result["incident"]["went_live"] is True
    assert result["recovery"]["actions"] == [TOOLS[example]]
    times = result["times"]
    assert times["impact_s"] is not None and times["detect_s"] is not None
    assert times["rollback_started_s"] <= times["rollback_done_s"] <= times["recovered_s"] + 60
    assert times["recovered_s"] is not None
    assert result["requests"]["failed"] > 0
    ends_where_it_started(result)
    no_leftovers(staging, result)


def tiny_copy(tmp_path: Path, **changes: str) -> Path:
    """The tiny target in `tmp_path` with `key = value` lines replaced or added under [run]/[build]."""
    target = tmp_path / "tiny"
    shutil.copytree(TINY, target)
    text = (target / "target.toml").read_text()
    for key, line in changes.items():
        section, _, name = key.partition("__")
        text = text.replace(f"[{section}]\n", f"[{section}]\n{line}\n", 1)
    (target / "target.toml").write_text(text)
    return target / "clean-deploy.toml"


def test_a_start_release_whose_build_fails_is_one_line_and_exit_2(staging: Staging, tmp_path: Path) -> None:
    scenario = tiny_copy(tmp_path, build__commands='commands = ["echo compiling", "echo no such module >&2; exit 3"]')
    proc, pid = gameday_process("run", str(scenario), "--reports", str(tmp_path / "reports"), "--quiet")
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "target.toml: build.commands:" in last and "v1" in last and "exit 3" in last, last
    assert "no such module" in last, last
    assert left_by(staging, pid) == 0
    assert not list((tmp_path / "reports").iterdir())


def test_a_version_path_that_names_no_release_is_one_line_and_exit_2(staging: Staging, tmp_path: Path) -> None:
    scenario = tiny_copy(tmp_path)
    target = scenario.parent / "target.toml"
    target.write_text(target.read_text().replace('version_path = "/version"', 'version_path = "/health"'))
    proc, pid = gameday_process("up", "--target", str(target))
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "run.version_path" in last and "did not name release v1" in last, last
    assert left_by(staging, pid) == 0


def test_a_failing_team_rollback_is_a_result_with_its_output_in_the_report(staging: Staging, tmp_path: Path) -> None:
    example = tmp_path / "refused"
    shutil.copytree(EXAMPLES / "ssh-script", example)
    target = example / "target.toml"
    # SSH to a port nothing listens on: the rollback is refused, as when the host is down.
    target.write_text(target.read_text().replace(
        'rollback = "./deploy.sh rollback"',
        'rollback = "ssh -F $GAMEDAY_SSH_CONFIG -p 1 gameday true"'))
    scenario = example / "failing-release.toml"
    scenario.write_text(scenario.read_text().replace("[phases]\n", "[phases]\nrecover_timeout_s = 5\n"))
    (tmp_path / "reports").mkdir()
    code, result, run_dir = run(str(scenario), tmp_path / "reports")
    assert code == 1 and result["outcome"] == "gaps", result["reason"]
    finished = [json.loads(line) for line in (run_dir / "timeline.jsonl").read_text().splitlines()
                if '"rollback_finished"' in line]
    assert finished and finished[0]["exit_status"] == 255
    assert result["durations"]["time_to_rollback_s"] is None
    assert "time_to_rollback_s" in {gap["name"] for gap in result["gaps"]}
    assert any("refused" in line for line in finished[0]["output"]), finished[0]
    page = open_in_chromium(run_dir / "report.html", "refused-rollback", ("#commands pre.output",))
    # The refused rollback's output is shown (so is the deploy's, when it was interrupted).
    assert page.errors == [] and page.present["#commands pre.output"] >= 1
    assert "Connection refused" in (run_dir / "report.html").read_text()
    no_leftovers(staging, result)


def test_a_target_whose_releases_are_git_tags_is_rehearsed(staging: Staging, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                       capture_output=True)

    git("init", "-q", "-b", "main")
    shutil.copy(TINY / "app" / "tiny.py", repo / "tiny.py")
    for release in ("v1", "v2"):
        shutil.copy(TINY / "releases" / release / "greeting.txt", repo / "greeting.txt")
        git("add", "-A")
        git("commit", "-q", "-m", release)
        git("tag", release)
    scenario = tiny_copy(tmp_path)
    target = scenario.parent / "target.toml"
    target.write_text(target.read_text().replace('common = "app"\nreleases = "releases"\n',
                                                 f'git = "{repo}"\nrefs = ["v1", "v2"]\n'))
    (tmp_path / "reports").mkdir()
    code, result, run_dir = run(str(scenario), tmp_path / "reports")
    assert code == 0, (result["outcome"], result["reason"], result["gaps"])
    assert result["requests"]["failed"] == 0 and result["requests"]["total"] > 100
    ends_where_it_started(result)
    no_leftovers(staging, result)


def test_each_published_tag_holds_its_own_releases_files(staging: Staging, tmp_path: Path) -> None:
    """The host's git repository, which git-based deploy tools clone, has every release as
    the deploy tool would copy it: even files that differ only in content (same size)."""
    tiny = find_target(str(TINY / "target.toml"))
    images = ensure_images(staging.client, tiny, DEFAULT_BASE_IMAGE, staging.say)
    run_id = new_run_id("test-published-tags", datetime.now(UTC))
    replica = staging.create(tiny, images, run_id, "test")
    try:
        for release in tiny.releases:
            shown = staging.exec(replica.web, ["git", "--git-dir=/srv/git/releases.git", "show",
                                               f"{release}:greeting.txt"])
            assert shown == (TINY / "releases" / release / "greeting.txt").read_text()
    finally:
        staging.remove(run_id)


def test_a_pruned_rollback_target_fails_the_rollback_and_the_redeploy_recovers(
    staging: Staging, tmp_path: Path
) -> None:
    # Capistrano keeps one release, so the bad release's cleanup removed the good one.
    code, result, run_dir = run("pruned-rollback", tmp_path)
    assert code == 1 and result["outcome"] == "gaps", result["reason"]
    assert result["recovery"]["actions"] == ["cap staging deploy:rollback",
                                             "cap staging deploy RELEASE=v1 KEEP_RELEASES=1"]
    [gap] = [g for g in result["gaps"] if g["name"] == "rollback_failed"]
    assert "There are no older releases to rollback to" in gap["cause"]
    assert "ran as the fallback and succeeded" in gap["cause"]
    # The way back is timed to the end of the redeploy, the manual fix.
    times = result["times"]
    assert times["rollback_done_s"] is not None and times["recovered_s"] is not None
    assert result["durations"]["time_to_rollback_s"] is not None
    assert result["releases"]["after"] != result["releases"]["before"]  # v1 again, as a new release
    assert served_at_end(run_dir) == {result["releases"]["after"]}
    no_leftovers(staging, result)
