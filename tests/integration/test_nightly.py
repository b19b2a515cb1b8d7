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


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_nightly_runs_each_scenario_and_merges_junit(
    staging: Staging, images: object, tmp_path: Path, jobs: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "nightly", "clean-deploy", "failing-health-check", "--quiet",
         "--reports", str(tmp_path), "--jobs", jobs],
        capture_output=True, text=True, timeout=900, env=dict(os.environ), check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Each run's summary, in one piece even when two ran side by side.
    assert "clean-deploy: MET" in proc.stdout and "failing-health-check: MET" in proc.stdout
    root = ET.parse(tmp_path / "nightly" / "junit.xml").getroot()
    assert [s.get("name") for s in root] == ["gameday.clean-deploy", "gameday.failing-health-check"]
    assert root.get("failures") == "0" and root.get("errors") == "0"
    assert int(root.get("tests") or 0) == 5
    assert len(list(tmp_path.glob("*-*/junit.xml"))) == 2
    assert "clean-deploy" in (tmp_path / "trend.html").read_text()
    # None of its replicas is left: neither a run's own (named as its run directory) nor
    # the pool's it reused (named in the run directory's replica.json).
    reused = {json.loads(f.read_text())["reused"] for f in tmp_path.glob("*-*/replica.json")}
    assert reused, "a nightly reuses its replicas unless told --fresh-replicas"
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
    assert any("still runs from" in f for f in results["wrapper-worker"]["hygiene"]["findings"])
    # The next run found none of the wrapper's worker, and the last none of the index.
    assert results["interrupted-index"]["hygiene"]["findings"] == [
        "index orders_created_idx is INVALID (an interrupted CREATE INDEX CONCURRENTLY leaves one): "
        "drop and recreate it"]
    # Each result says the replica it ran on, as the run directory's replica.json does.
    assert {r["environment"]["images"]["replica"] for r in results.values()} == {
        f"reused {r['reused']}" for r in reused.values()}
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
