import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "gameday-nightly.yml"


def actionlint() -> str:
    found = shutil.which("actionlint") or str(Path(os.sys.executable).parent / "actionlint")
    if not Path(found).exists():
        if os.environ.get("CI"):
            pytest.fail("CI is set and actionlint is missing: it is a dev dependency")
        pytest.skip("actionlint is not installed")
    return found


def test_the_nightly_workflow_passes_actionlint():
    proc = subprocess.run([actionlint(), str(WORKFLOW)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ubuntu-latest", "runs-on: [ubuntu-latest"))
    proc = subprocess.run([actionlint(), str(broken)], capture_output=True, text=True, check=False)
    assert proc.returncode != 0


def test_the_workflow_runs_nightly_uploads_reports_and_publishes_junit():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    steps = workflow["jobs"]["rehearse"]["steps"]
    runs = " ".join(s.get("run", "") for s in steps)
    assert "make nightly" in runs
    uses = {s.get("uses", "").split("@")[0]: s for s in steps}
    assert uses["actions/upload-artifact"]["with"]["path"] == "reports/"
    assert uses["mikepenz/action-junit-report"]["with"]["report_paths"] == "reports/nightly/junit.xml"


def test_the_gitlab_job_runs_on_a_schedule_and_reports_junit():
    job = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text())["gameday-nightly"]
    assert any("schedule" in rule["if"] for rule in job["rules"])
    assert any("make nightly" in line for line in job["script"])
    assert job["artifacts"]["reports"]["junit"] == "reports/nightly/junit.xml"
    assert job["artifacts"]["when"] == "always"
