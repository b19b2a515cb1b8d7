"""Three ways a deploy fails that the first scenarios did not cover, each told as a story:
what broke, what gameday did, the cause it named, and which release serves at the end."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from harness.environment.replica import RUN_LABEL, Staging
from harness.results.records import read_records
from tests.integration.test_runbook import no_leftovers, run

DETECTORS = """
[detectors.error_rate]
window_s = 1.0
threshold = 0.2
[detectors.health]
interval_s = 0.5
"""


def scenario(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'description = "{name}"\n' + body + DETECTORS)
    return str(path)


def served_at_end(run_dir: Path) -> set[str]:
    """The releases (X-Release) that answered the last 50 requests before the load stopped."""
    return {r.release for r in list(read_records(run_dir / "requests.jsonl"))[-50:] if not r.failed}


def events(run_dir: Path, name: str) -> list[dict[str, Any]]:
    lines = (run_dir / "timeline.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["event"] == name]


def test_an_unbootable_release_without_a_gate_is_rolled_back_on_the_first_alarm(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("unbootable-release", tmp_path / "reports")
    assert result["outcome"] in ("met", "gaps"), result["reason"]
    first_alarm = min(e["ts"] for e in events(run_dir, "alarm_raised"))
    rollback = events(run_dir, "rollback_started")[0]
    # The deploy's verify step was still waiting (it allows 15 s): the rollback did not wait
    # for it, it interrupted the deploy. (A loose bound: a busy machine is slow to act.)
    assert events(run_dir, "deploy_interrupted")
    assert rollback["ts"] - first_alarm < 5.0
    assert result["recovery"]["actions"] == ["rollback"]
    assert result["recovery"]["code_rollback_recovered"] is True
    assert result["times"]["recovered_s"] is not None
    assert "could not boot" in result["incident"]["cause"]
    assert result["releases"]["after"] == result["releases"]["before"]
    assert served_at_end(run_dir) == {result["releases"]["before"]}
    assert result["hygiene"]["clean"], result["hygiene"]
    no_leftovers(staging, result)


def test_a_destructive_migration_whose_gate_fails_leaves_a_way_back(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("migration-then-failing-gate", tmp_path / "reports")
    assert result["outcome"] in ("met", "gaps"), result["reason"]
    assert result["releases"]["after"] == result["releases"]["before"]
    assert served_at_end(run_dir) == {result["releases"]["before"]}
    assert result["times"]["recovered_s"] is not None
    assert "aborted after its migration committed" in result["incident"]["cause"]
    # Nothing went live, so there was no code rollback; the schema came back, by the deploy
    # tool's abort or by gameday's db step.
    assert "rollback" not in result["recovery"]["actions"]
    assert result["hygiene"]["clean"], result["hygiene"]
    no_leftovers(staging, result)


def test_an_outage_from_outside_is_recovered_when_service_holds_again(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    path = scenario(tmp_path, "outside-outage", """
[fault]
kind = "deploy"
release = "v2"
[recovery]
trigger = "after"
after_s = 12
db = "never"
[phases]
baseline_s = 4
stable_s = 3
""")
    reports = tmp_path / "reports"
    reports.mkdir()
    window: dict[str, float] = {}

    def stop_nginx_for_a_while() -> None:
        """1 s after v2's deploy finished, stop nginx in the web host for about 3 s, as an
        outside cause would. (After the deploy, not a fixed time after t0: a slow machine's
        deploy may still run 3 s after t0, and then the outage is rightly blamed on it.)"""
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            timelines = list(reports.glob("*/timeline.jsonl"))
            found = [e for t in timelines for e in map(json.loads, t.read_text().splitlines())
                     if e["event"] == "deploy_finished"]
            if found:
                break
            time.sleep(0.05)
        else:
            return
        run_id = timelines[0].parent.name
        web = next(c for c in staging.containers(run_id) if c.labels.get("gameday.role") == "web")
        assert web.labels[RUN_LABEL] == run_id
        time.sleep(max(0.0, found[0]["ts"] + 1.0 - time.time()))
        window["stopping"] = time.time()
        web.exec_run(["supervisorctl", "stop", "nginx"])  # returns once nginx has exited
        window["stopped"] = time.time()
        time.sleep(3.0)
        window["starting"] = time.time()
        web.exec_run(["supervisorctl", "start", "nginx"])  # returns once nginx has run startsecs
        window["started"] = time.time()

    outage = threading.Thread(target=stop_nginx_for_a_while, daemon=True)
    outage.start()
    code, result, run_dir = run(path, reports)
    outage.join(timeout=30)
    assert window, "the outage never happened"
    t0 = events(run_dir, "fault_injected")[0]["ts"]
    times = result["times"]
    # The first failed request came while nginx was being stopped (a docker exec on a busy
    # machine can take a while to reach supervisorctl), give or take a request's latency.
    assert window["stopping"] - t0 - 0.1 <= times["impact_s"] <= window["stopped"] - t0 + 0.5
    assert times["recovered_s"] is not None
    assert window["starting"] - t0 <= times["recovered_s"] < window["started"] - t0 + 2.0
    verified = events(run_dir, "recovery_verified")
    assert verified and abs(verified[0]["recovered_ts"] - t0 - times["recovered_s"]) < 0.01
    # v2 was live, then the scheduled rollback put v1 back.
    assert result["recovery"]["actions"] == ["rollback"]
    assert result["releases"]["after"] == result["releases"]["before"]
    assert served_at_end(run_dir) == {result["releases"]["before"]}
    assert "recovered without" in result["incident"]["cause"] or "outside" in result["incident"]["cause"]
    no_leftovers(staging, result)
