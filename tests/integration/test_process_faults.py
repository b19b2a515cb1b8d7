"""The `process` kind on the real replica: a signal to the worker, the app server's master
or the database, mid-run, each scenario's outcome and cause from what the host showed."""

from __future__ import annotations

from pathlib import Path

from harness.environment.replica import Staging
from tests.integration.test_runbook import no_leftovers, run
from tests.integration.test_stories import events


def test_a_worker_killed_mid_job_is_restarted_and_no_job_is_lost_by_count(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("worker-killed-mid-job", tmp_path)
    assert code == 0 and result["outcome"] == "met", (result["reason"], result["gaps"])
    [sent] = events(run_dir, "fault_injected")
    assert (sent["program"], sent["signal"], sent["via"], sent["exit_status"]) == ("worker", "KILL", "supervisord", 0)
    # Nothing deployed, so nothing to roll back; the timeline says why.
    [skipped] = events(run_dir, "rollback_skipped")
    assert "signal" in skipped["reason"] and not events(run_dir, "rollback_started")
    # supervisord started a new worker; the jobs reconcile by count.
    [removed] = events(run_dir, "fault_removed")
    assert removed["state"] == "RUNNING" and removed["pid"] not in (None, sent["pid"])
    jobs = result["jobs"]
    assert jobs["enqueued"] > 0 and jobs["lost"] == 0 and jobs["duplicated"] == 0
    assert jobs["completed"] == jobs["enqueued"]
    cause = result["incident"]["cause"]
    assert cause.startswith(f"gameday sent SIGKILL to worker's main process (pid {sent['pid']}) through supervisord")
    assert f"afterwards worker was RUNNING as pid {removed['pid']} (a new process)" in cause
    assert result["hygiene"]["clean"], result["hygiene"]
    no_leftovers(staging, result)


def test_a_binary_upgrade_under_supervisord_leaves_an_orphaned_second_master(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("orphaned-master", tmp_path)
    assert code == 1 and result["outcome"] == "gaps", result["reason"]
    [usr2] = events(run_dir, "fault_injected")
    [term] = events(run_dir, "fault_signalled")
    assert (usr2["signal"], term["signal"]) == ("USR2", "TERM") and term["pid"] == usr2["pid"]
    assert term["ts"] - usr2["ts"] >= 3.0
    # supervisord started its own gunicorn after the TERM; the upgraded master lives on.
    [removed] = events(run_dir, "fault_removed")
    assert removed["state"] == "RUNNING" and removed["pid"] != usr2["pid"]
    [gap] = result["gaps"]
    assert gap["name"] == "hygiene" and "an orphaned web (pid " in gap["cause"]
    assert f"beside its own (pid {removed['pid']})" in gap["cause"] and "gunicorn" in gap["cause"]
    assert "USR2" in gap["advice"]
    assert "no second web outside supervisord" in result["hygiene"]["checks"]
    assert "SIGUSR2" in result["incident"]["cause"] and "SIGTERM" in result["incident"]["cause"]
    no_leftovers(staging, result)


def test_a_stopped_database_is_an_outage_no_rollback_can_shorten(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("database-paused", tmp_path)
    assert code == 1 and result["outcome"] == "gaps", result["reason"]
    [stopped] = events(run_dir, "fault_injected")
    [continued] = events(run_dir, "fault_signalled")
    assert (stopped["signal"], continued["signal"]) == ("STOP", "CONT")
    assert 6.0 <= continued["ts"] - stopped["ts"] < 30
    assert not events(run_dir, "rollback_started") and events(run_dir, "rollback_skipped")
    # Users saw it: a detector fired while it was stopped, and service came back only
    # once the database continued.
    times = result["times"]
    assert times["detect_s"] is not None and times["detect_s"] < continued["ts"] - stopped["ts"]
    assert times["recovered_s"] is not None and times["recovered_s"] >= 6.0
    [gap] = result["gaps"]
    assert gap["name"] == "time_to_recover_s"
    assert gap["cause"].startswith("gameday sent SIGSTOP to the database's processes; gameday sent SIGCONT")
    assert "until service recovered" in gap["cause"] and "statement" in gap["advice"]
    assert result["hygiene"]["clean"], result["hygiene"]  # nothing left paused
    no_leftovers(staging, result)
