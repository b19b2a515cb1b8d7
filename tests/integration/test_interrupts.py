"""Interrupts and kills: whatever phase a rehearsal is in, Ctrl-C or SIGTERM stops the
load, undoes the fault, removes the replica, writes an aborted result and an incomplete
report, and exits 130. A SIGKILLed run's leftovers go with the next gameday command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.environment.replica import RUN_LABEL, Staging
from harness.results.timeline import read_jsonl

GAMEDAY = [sys.executable, "-m", "harness"]
# 6 runs: every phase, the signals and the two scenarios taking turns (one handler serves
# both signals), so each scenario meets each signal; the run's last phase gets both.
PHASES = ["replica", "baseline", "detect", "recover", "verify"]
SCENARIOS = ("bad-migration", "failing-health-check-no-gate")
SIGNALS = (signal.SIGINT, signal.SIGTERM)
CASES = [(phase, SIGNALS[i % 2], SCENARIOS[(i // 2) % 2]) for i, phase in enumerate(PHASES)]
CASES.append(("verify", SIGNALS[len(PHASES) % 2], SCENARIOS[1]))


def start(scenario: str, reports: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*GAMEDAY, "run", scenario, "--quiet", "--reports", str(reports)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def run_dir_of(reports: Path) -> Path | None:
    dirs = [p for p in reports.iterdir() if p.is_dir()] if reports.exists() else []
    return dirs[0] if dirs else None


def wait_for_phase(proc: subprocess.Popen[str], reports: Path, staging: Staging, phase: str) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        run_dir = run_dir_of(reports)
        if run_dir is not None:
            run_id = run_dir.name
            if phase == "replica":
                if staging.containers(run_id):
                    return run_id
            elif any(e.get("phase") == phase for e in read_jsonl(run_dir / "timeline.jsonl")):
                return run_id
        time.sleep(0.05)
    raise AssertionError(f"never reached {phase}")


def locust_pids(run_dir: Path) -> list[int]:
    """The run's Locust processes: its command line names the run's statistics file."""
    ps = subprocess.run(["pgrep", "-f", "--", f"--json-file {run_dir}/requests.locust"], capture_output=True,
                        text=True)
    return [int(pid) for pid in ps.stdout.split()]


def leftovers(staging: Staging, run_id: str) -> int:
    wanted = {"label": f"{RUN_LABEL}={run_id}"}
    return (len(staging.containers(run_id))
            + len(staging.client.networks.list(filters=wanted)) + len(staging.client.volumes.list(filters=wanted)))


@pytest.mark.parametrize(("phase", "sig", "scenario"), CASES,
                         ids=[f"{p}-{s.name}-{n}" for p, s, n in CASES])
def test_an_interrupt_at_any_phase_cleans_up(staging: Staging, images: object, tmp_path: Path,
                                             phase: str, sig: signal.Signals, scenario: str) -> None:
    proc = start(scenario, tmp_path)
    run_id = wait_for_phase(proc, tmp_path, staging, phase)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    assert leftovers(staging, run_id) == 0
    run_dir = tmp_path / run_id
    result = json.loads((run_dir / "result.json").read_text())
    assert result["outcome"] == "aborted" and result["reason"] == "interrupted"
    # A run that stopped judges nothing; what it found after gameday's own interrupt says so,
    # and CI reads it as the run's error, never as a failure of the team's recovery.
    assert all(o["met"] is None for o in result["targets"]), result["targets"]
    assert all(g["found_after"] == "gameday's own interrupt" for g in result["gaps"]), result["gaps"]
    junit = (run_dir / "junit.xml").read_text()
    assert 'failures="0"' in junit and 'errors="1"' in junit, junit
    assert "This report is incomplete" in (run_dir / "report.html").read_text()
    assert all(json.loads(line) for line in (run_dir / "timeline.jsonl").read_text().splitlines())


@pytest.mark.serial  # any gameday command sweeps dead runs: this one must be the one that does
def test_a_killed_run_is_swept_by_the_next_command(staging: Staging, images: object, tmp_path: Path) -> None:
    proc = start("bad-migration", tmp_path)
    run_id = wait_for_phase(proc, tmp_path, staging, "detect")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert leftovers(staging, run_id) > 0
    bystander = staging.client.volumes.create("gameday-test-not-ours", labels={"owner": "someone-else"})
    try:
        # Any gameday command that talks to Docker removes a dead run's resources.
        sweep = subprocess.run([*GAMEDAY, "status", "--run", run_id], capture_output=True, text=True, timeout=120)
        assert f"removed leftovers of {run_id}" in sweep.stderr
        assert leftovers(staging, run_id) == 0
        staging.client.volumes.get("gameday-test-not-ours")
    finally:
        bystander.remove()
    # What the killed run had written is valid, and still makes a report.
    run_dir = tmp_path / run_id
    report = subprocess.run([*GAMEDAY, "report", str(run_dir)], capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    assert "This report is incomplete" in (run_dir / "report.html").read_text()
    # Locust died with its parent.
    time.sleep(1)
    assert locust_pids(run_dir) == []
