"""gameday's own instruments, watched like any other part of the run: a load generator
that dies or whose load shape ends makes the run an error, not a verdict on no traffic;
a locustfile that cannot load stops the run before anything starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from harness.environment.replica import Staging
from harness.results.timeline import read_jsonl
from tests.integration.test_cli import gameday, gameday_process, left_by
from tests.integration.test_interrupts import GAMEDAY, leftovers, locust_pids, run_dir_of

SHAPED = """\
from locust import HttpUser, LoadTestShape, constant, task


class Shopper(HttpUser):
    wait_time = constant(0.2)

    @task
    def version(self):
        self.client.get("/version", name="GET /version")


class Steps(LoadTestShape):
    def tick(self):
        return (20, 20) if self.get_run_time() < {until_s} else None
"""

SCENARIO = """\
description = "v2, rolled back; load from a locustfile with a load shape"
[fault]
release = "v2"
[load]
locustfile = "shaped.py"
[detectors.error_rate]
window_s = 1.0
threshold = 0.2
[recovery]
trigger = "after"
after_s = 3
db = "always"
[objectives]
failed_requests = 0
[phases]
baseline_s = 4
stable_s = 2
"""


def shaped(tmp_path: Path, until_s: float) -> Path:
    (tmp_path / "shaped.py").write_text(SHAPED.replace("{until_s}", str(until_s)))
    scenario = tmp_path / "shaped.toml"
    scenario.write_text(SCENARIO)
    return scenario


def result_of(reports: Path) -> dict:
    run_dir = run_dir_of(reports)
    assert run_dir is not None
    return dict(json.loads((run_dir / "result.json").read_text()))


def test_killing_locust_mid_run_ends_it_as_an_error_within_seconds(staging: Staging, images: object,
                                                                   tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    proc = subprocess.Popen([*GAMEDAY, "run", "bad-migration", "--quiet", "--reports", str(reports)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    deadline = time.monotonic() + 180
    run_dir = None
    while time.monotonic() < deadline:
        run_dir = run_dir_of(reports)
        if run_dir and any(e["event"] == "fault_injected" for e in read_jsonl(run_dir / "timeline.jsonl")):
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    assert run_dir is not None
    time.sleep(1)
    [master] = locust_pids(run_dir)
    os.kill(master, signal.SIGKILL)
    killed = time.time()
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 2, err
    result = json.loads((run_dir / "result.json").read_text())
    assert result["outcome"] == "error"
    assert result["load_lost"]["cause"].startswith("Locust exited with status -9")
    lost = next(e for e in read_jsonl(run_dir / "timeline.jsonl") if e["event"] == "load_lost")
    assert lost["ts"] - killed <= 3.0, lost
    # No verdict on the window without traffic: nothing judged, nothing claimed.
    assert all(o["met"] is None for o in result["targets"]), result["targets"]
    assert result["recovery"]["code_rollback_recovered"] is None
    assert "the load generator stopped" in result["reason"]
    assert leftovers(staging, result["run_id"]) == 0
    assert locust_pids(run_dir) == []


def test_a_load_shape_that_ends_early_is_reported_as_such(staging: Staging, images: object, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    proc = gameday("run", str(shaped(tmp_path, 9)), "--reports", str(reports))
    assert proc.returncode == 2, proc.stderr
    assert "its load shape Steps sets the users over time; [load] users and spawn_rate do not apply" in proc.stderr
    result = result_of(reports)
    assert result["outcome"] == "error"
    assert result["load_lost"]["cause"] == "the locustfile's load shape Steps ended"
    assert result["environment"]["load"]["shape"] == "Steps"
    assert result["environment"]["load"]["user_classes"] == ["Shopper"]
    assert all(o["met"] is None for o in result["targets"])
    assert leftovers(staging, result["run_id"]) == 0


def test_a_load_shape_that_outlasts_the_rehearsal_runs_normally_and_is_named(staging: Staging, images: object,
                                                                           tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    proc = gameday("run", str(shaped(tmp_path, 600)), "--reports", str(reports))
    result = result_of(reports)
    assert proc.returncode == 0, (proc.stderr, result["gaps"])
    assert result["outcome"] == "met" and result["load_lost"] is None
    assert result["environment"]["load"]["shape"] == "Steps"
    assert result["requests"]["total"] > 100


def test_a_locustfile_with_a_syntax_error_is_exit_2_before_any_container_starts(staging: Staging,
                                                                                tmp_path: Path) -> None:
    scenario = shaped(tmp_path, 600)
    (tmp_path / "shaped.py").write_text("from locust import HttpUser, task\n\n\nclass U(HttpUser):\n"
                                        "    @task\n    def t(self):\n        self.client.get('/'\n")
    reports = tmp_path / "reports"
    proc, pid = gameday_process("run", str(scenario), "--reports", str(reports))
    assert proc.returncode == 2
    # One line, and nothing before it: no image was built, no replica started.
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert f"{tmp_path / 'shaped.py'}: SyntaxError: '(' was never closed (shaped.py, line 7)" in proc.stderr
    assert left_by(staging, pid) == 0
    assert run_dir_of(reports) is None
