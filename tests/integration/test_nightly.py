"""`gameday nightly` as CI runs it: several scenarios, merged JUnit, trend report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.environment.replica import Staging
from harness.results.model import parse_ts
from tests.integration import test_catalogue


# Serial: it runs two rehearsals at once itself, as `make nightly` does.
@pytest.mark.serial
def test_nightly_runs_two_at_a_time_side_by_side_and_merges_junit(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    names = ["clean-deploy", "failing-health-check-no-gate"]
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "nightly", *names, "--quiet", "--reports", str(tmp_path), "--jobs", "2"],
        capture_output=True, text=True, timeout=900, env=dict(os.environ), check=False,
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    # Each run's summary, in one piece even when two ran side by side.
    assert "clean-deploy: MET" in proc.stdout and "failing-health-check-no-gate: " in proc.stdout
    root = ET.parse(tmp_path / "nightly" / "junit.xml").getroot()
    assert [s.get("name") for s in root] == [f"gameday.{name}" for name in names]
    assert root.get("errors") == "0"
    assert len(list(tmp_path.glob("*-*/junit.xml"))) == 2
    assert "clean-deploy" in (tmp_path / "trend.html").read_text()
    runs = {json.loads((d / "run.json").read_text())["scenario"]: d for d in tmp_path.glob("*-*") if d.is_dir()}
    results = {name: json.loads((d / "result.json").read_text()) for name, d in runs.items()}
    # Two game days at once do not collide: while the failing release failed requests on
    # its replica, the control beside it measured only its own traffic.
    control, broken = results["clean-deploy"], results["failing-health-check-no-gate"]
    assert max(parse_ts(control["started_at"]), parse_ts(broken["started_at"])) < min(
        parse_ts(control["finished_at"]), parse_ts(broken["finished_at"])), "the two did not run side by side"
    assert control["run_id"] != broken["run_id"]
    assert control["outcome"] == "met" and control["requests"]["failed"] == 0
    assert broken["requests"]["failed"] > 0
    # A replica each, reused from the pool, and none left: neither a run's own nor the pool's.
    reused = {json.loads(f.read_text())["reused"] for f in tmp_path.glob("*-*/replica.json")}
    assert len(reused) == 2, "a nightly reuses its replicas unless told --fresh-replicas"
    assert not set(staging.run_ids()) & ({p.name for p in tmp_path.iterdir() if p.is_dir()} | reused)


def test_a_reused_replica_is_reset_to_a_fresh_ones_state(staging: Staging, images: object, tmp_path: Path) -> None:
    # Each of the first two leaves a fault behind: a worker a wrapper kept alive, an
    # INVALID index. The reset must clear both before the next run on the same replica.
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "nightly", "wrapper-worker", "interrupted-index", "clean-deploy", "--quiet",
         "--reports", str(tmp_path)],
        capture_output=True, text=True, timeout=900, env=dict(os.environ), check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    runs = {json.loads((d / "run.json").read_text())["scenario"]: d for d in tmp_path.glob("*-*") if d.is_dir()}
    reused = {name: json.loads((d / "replica.json").read_text()) for name, d in runs.items()}
    assert len({r["reused"] for r in reused.values()}) == 1 and all(r["reset"] == "proven" for r in reused.values())
    results = {name: json.loads((d / "result.json").read_text()) for name, d in runs.items()}
    # Each result names the replica it ran on, as the run directory's replica.json does.
    assert {name: r["environment"]["images"]["replica"] for name, r in results.items()} == {
        name: f"reused {r['reused']}" for name, r in reused.items()}
    # The catalogue's two faults, as their own scenarios assert them; the next run on the
    # replica found none of the wrapper's worker, and the last none of the index.
    test_catalogue.wrapper_worker_outlives_the_rollback(results["wrapper-worker"])
    test_catalogue.the_rerun_hides_an_invalid_index(results["interrupted-index"], runs["interrupted-index"])
    clean = results["clean-deploy"]
    assert clean["outcome"] == "met" and clean["hygiene"]["clean"], clean["gaps"]
    assert [c["clean"] for c in clean["schema_checks"]] == [True]
    assert not set(staging.run_ids()) & {r["reused"] for r in reused.values()}


def test_fresh_replicas_reuse_nothing(staging: Staging, images: object, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "nightly", "clean-deploy", "--quiet", "--fresh-replicas",
         "--reports", str(tmp_path)],
        capture_output=True, text=True, timeout=600, env=dict(os.environ), check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not list(tmp_path.glob("*-*/replica.json"))


def test_nightly_refuses_a_bad_scenario_before_running_any(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "nightly", "clean-deploy", "no-such-one", "--reports", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 2
    assert "no such scenario" in proc.stderr
    assert not any(p.is_dir() for p in tmp_path.iterdir() if p.name != "nightly")
