"""`gameday nightly` as CI runs it: several scenarios, merged JUnit, trend report."""

from __future__ import annotations

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
    # None of its replicas is left (the run ids are its run directories' names).
    assert not set(staging.run_ids()) & {p.name for p in tmp_path.iterdir() if p.is_dir()}


def test_nightly_refuses_a_bad_scenario_before_running_any(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "nightly", "clean-deploy", "no-such-one", "--reports", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 2
    assert "no such scenario" in proc.stderr
    assert not any(p.is_dir() for p in tmp_path.iterdir() if p.name != "nightly")
