"""The command line as a newcomer uses it: up, status, deploy, rollback, down."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from harness.environment.replica import HOST_LABEL, PID_LABEL, RUN_LABEL, Staging


def gameday(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=600,
        env={**os.environ, **(env or {})}, check=False,
    )


def gameday_process(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], int]:
    """`gameday` run as `gameday()` does, with its process id: what it made is labelled with it."""
    argv = [sys.executable, "-m", "harness", *args]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, **(env or {})}) as proc:
        try:
            out, err = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err), proc.pid


def left_by(staging: Staging, pid: int) -> int:
    """Containers, networks and volumes still labelled as made by gameday process `pid` on
    this host (`gameday.pid`, `gameday.host`; other tests' replicas do not count)."""
    return count(staging, {"label": [f"{PID_LABEL}={pid}", f"{HOST_LABEL}={socket.gethostname()}"]})


def labelled(staging: Staging, run_id: str) -> int:
    return count(staging, {"label": f"{RUN_LABEL}={run_id}"})


def count(staging: Staging, wanted: dict[str, str | list[str]]) -> int:
    return (len(staging.client.containers.list(all=True, filters=wanted))
            + len(staging.client.networks.list(filters=wanted))
            + len(staging.client.volumes.list(filters=wanted)))


def test_up_deploy_rollback_down(staging: Staging, images: object) -> None:
    up = gameday("up")
    assert up.returncode == 0, up.stderr
    run_id = up.stdout.strip().splitlines()[-1].split()[1]
    try:
        status = json.loads(gameday("status", "--run", run_id, "--json").stdout)
        assert status["url"].startswith("http://127.0.0.1:")
        assert status["current_name"] == "v1"
        assert {c["role"] for c in status["containers"]} == {"web", "db"}
        assert httpx.get(status["url"] + "/version").json()["release"] == status["current_release"]

        assert gameday("deploy", "v2", "--run", run_id).returncode == 0
        assert httpx.get(status["url"] + "/version").json()["name"] == "v2"
        assert gameday("rollback", "--run", run_id).returncode == 0
        assert httpx.get(status["url"] + "/version").json()["name"] == "v1"

        unknown = gameday("deploy", "v99", "--run", run_id)
        assert unknown.returncode == 2
        assert unknown.stderr.count("\n") == 1 and "unknown release 'v99'" in unknown.stderr
    finally:
        down = gameday("down", "--run", run_id)
    assert down.returncode == 0, down.stderr
    assert labelled(staging, run_id) == 0


def test_down_leaves_other_resources_alone(staging: Staging, images: object) -> None:
    bystander = staging.client.volumes.create("gameday-test-bystander", labels={"other.tool": "yes"})
    try:
        up = gameday("up")
        run_id = up.stdout.strip().splitlines()[-1].split()[1]
        assert gameday("down", "--run", run_id).returncode == 0
        assert labelled(staging, run_id) == 0
        staging.client.volumes.get("gameday-test-bystander")
    finally:
        bystander.remove()


def test_missing_base_image_without_a_mirror_is_exit_2_and_starts_nothing(
    staging: Staging, tmp_path: Path
) -> None:
    result, pid = gameday_process("up", env={"BASE_IMAGE": "debian:nosuchsuite-slim", "GAMEDAY_APT_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "no Debian mirror" in result.stderr
    assert left_by(staging, pid) == 0
