"""gameday beside other people's work: runs that start together stay apart, a SIGKILLed
gameday takes its team's deploy command with it, a full disk loses nothing recorded, and
a run id is never a path."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.environment.replica import Staging
from harness.results.timeline import read_timeline
from tests.integration.test_cli import gameday, labelled

GAMEDAY = [sys.executable, "-m", "harness"]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def rehearsal(scenario: str, reports: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*GAMEDAY, "run", scenario, "--quiet", "--reports", str(reports)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def ours(marker: str) -> list[int]:
    """Processes in this PID namespace (not a container's) whose command line holds `marker`."""
    mine = os.readlink("/proc/self/ns/pid")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "ns" / "pid") != mine:
                continue
            if marker in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.serial  # four rehearsals at once: alone, so the other tests' timing is not theirs
def test_four_runs_started_together_each_get_their_own_replica_and_result(staging: Staging, images: object,
                                                                         tmp_path: Path) -> None:
    runs = [rehearsal("clean-deploy", tmp_path / f"ci-job-{n}") for n in range(4)]
    outputs = [proc.communicate(timeout=600) for proc in runs]
    results = []
    for n, (proc, (_, err)) in enumerate(zip(runs, outputs, strict=True)):
        assert "Traceback" not in err, err
        run_dirs = [p for p in (tmp_path / f"ci-job-{n}").iterdir() if p.is_dir()]
        assert len(run_dirs) == 1, err
        results.append(json.loads((run_dirs[0] / "result.json").read_text()))
        # Met or not is the benchmark's matter on a busy machine; none could not run.
        assert proc.returncode in (0, 1) and results[-1]["outcome"] in ("met", "gaps"), (err, results[-1]["reason"])
        assert results[-1]["requests"]["total"] > 0
    assert len({r["run_id"] for r in results}) == 4
    assert all(labelled(staging, r["run_id"]) == 0 for r in results)


SLOW_DEPLOY = """\
#!/bin/bash
# The ssh-script example's deploy, except that the fault's release hangs: an ssh to the
# host and a local wait, as a deploy stuck on a migration would.
if [ "$1" = "v2" ]; then
  ssh -F "$GAMEDAY_SSH_CONFIG" gameday sleep 3471 &
  sleep 3472
fi
exec ./deploy.sh deploy "$1"
"""


def test_a_sigkilled_gameday_takes_the_teams_deploy_command_with_it(staging: Staging, images: object,
                                                                     tmp_path: Path) -> None:
    script = tmp_path / "slow-deploy.sh"
    script.write_text(SLOW_DEPLOY)
    script.chmod(0o755)
    (tmp_path / "target.toml").write_text(
        f'extends = "{EXAMPLES / "ssh-script" / "target.toml"}"\nname = "slow-ssh-script"\n[deploy]\n'
        f'deploy = "{script} {{release}}"\nrollback = "./deploy.sh rollback"\ncwd = "{EXAMPLES / "ssh-script"}"\n')
    scenario = tmp_path / "hang.toml"
    scenario.write_text('target = "target.toml"\nstart_release = "v1"\n[fault]\nrelease = "v2"\n'
                        '[detectors.health]\n[recovery]\ntrigger = "after"\nafter_s = 30\ndb = "never"\n'
                        '[phases]\nbaseline_s = 2\nstable_s = 2\n')
    reports = tmp_path / "reports"
    proc = rehearsal(str(scenario), reports)
    deadline = time.monotonic() + 240
    while not (ours("sleep 3472") and ours("sleep 3471")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the hanging deploy never started"
        time.sleep(0.1)
    run_id = next(p.name for p in reports.iterdir() if p.is_dir())
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    killed = time.monotonic()
    while ours("sleep 347") and time.monotonic() - killed < 5:
        time.sleep(0.1)
    # The deploy command, its ssh and its wait are gone with gameday, within 5 s.
    assert ours("sleep 347") == [], "the team's deploy outlived gameday"
    assert labelled(staging, run_id) > 0
    # The next gameday command that talks to Docker removes the dead run's replica.
    status = gameday("status", "--run", run_id)
    assert status.returncode == 2 and f"no replica {run_id}" in status.stderr, status.stderr
    assert labelled(staging, run_id) == 0


def test_a_full_reports_disk_loses_nothing_recorded(staging: Staging, images: object, tmp_path: Path) -> None:
    reports = tmp_path / "small"
    reports.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(reports)], check=True)
    try:
        proc = rehearsal("clean-deploy", reports)
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 2, err
        assert "Traceback" not in err, err
        last = err.strip().splitlines()[-1]
        assert last.startswith(f"gameday: {reports}/") and "No space left on device" in last, last
        run_dir = next(p for p in reports.iterdir() if p.is_dir())
        if not (run_dir / "result.json").exists():
            # The result it could not write is on stderr instead.
            assert "clean-deploy: " in err and "the result is shown here instead" in last
        # Nothing torn is the only copy: no .tmp is left, and what was recorded reads.
        assert [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")] == []
        timeline = read_timeline(run_dir / "timeline.jsonl")
        assert timeline.damaged == () and timeline.events
        assert labelled(staging, run_dir.name) == 0
    finally:
        subprocess.run(["umount", str(reports)], check=True)


def test_down_takes_a_run_id_never_a_path(staging: Staging, images: object, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("mine")
    for bad in (str(victim), os.path.relpath(victim), "20261207T000000Z-no-such-run"):
        down = gameday("down", "--run", bad)
        assert down.returncode == 2 and down.stderr.count("\n") == 1, down.stderr
        assert "gameday down --run" not in down.stderr
    assert (victim / "keep").read_text() == "mine"
