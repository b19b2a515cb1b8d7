"""The replica as a story: deploy v1, deploy v2 under load, roll back under load."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import httpx

from harness.config.target import find_target
from harness.environment.images import DEFAULT_BASE_IMAGE, ensure_images
from harness.environment.replica import Replica, ReplicaEnvironment, Staging, new_run_id
from harness.environment.systemd import Systemd
from tests.integration.traffic import Traffic


def readlink_current(staging: Staging, replica: Replica) -> str:
    result = staging.client.containers.get(replica.web).exec_run(["readlink", "/srv/app/current"])
    assert result.exit_code == 0
    return str(result.output.decode().strip().rsplit("/", 1)[-1])


def served_release(replica: Replica) -> str:
    return str(httpx.get(f"{replica.url}/version", timeout=5).json()["release"])


def deploy_log(staging: Staging, replica: Replica) -> list[dict[str, object]]:
    out = staging.client.containers.get(replica.web).exec_run(["cat", "/srv/app/shared/log/deploy.jsonl"]).output
    return [json.loads(line) for line in out.decode().splitlines()]


def test_deploy_and_rollback_under_load_drop_no_requests(staging: Staging, replica: Replica) -> None:
    v1 = readlink_current(staging, replica)
    assert served_release(replica) == v1
    assert httpx.get(f"{replica.url}/health", timeout=5).json()["ok"] is True

    with Traffic(replica.url, rate=80) as deploy_traffic:
        staging.deploy_tool_checked(replica, ["deploy", "v2"])
    v2 = readlink_current(staging, replica)
    assert v2 != v1
    assert served_release(replica) == v2

    with Traffic(replica.url, rate=80) as rollback_traffic:
        staging.deploy_tool_checked(replica, ["rollback"])
    assert readlink_current(staging, replica) == v1
    assert served_release(replica) == v1

    for traffic in (deploy_traffic, rollback_traffic):
        # Under load all through (a loose bound: the other tests share the two cores).
        assert traffic.rate_achieved() >= 20, traffic.rate_achieved()
        assert traffic.failed == []
    assert deploy_traffic.versions() == [v1, v2]
    assert rollback_traffic.versions() == [v2, v1]

    steps = [(r["action"], r["step"], r["ok"]) for r in deploy_log(staging, replica)]
    deploy_v2 = [s for a, s, ok in steps[steps.index(("deploy", "lock", True), 1):] if a == "deploy"]
    assert deploy_v2 == ["lock", "release", "shared", "snapshot", "migrate", "gate", "swap", "reload", "verify",
                         "unlock", "retain"]
    assert all(ok for _, _, ok in steps)


def test_version_follows_current_after_every_swap(staging: Staging, replica: Replica) -> None:
    """The realpath trap: a HUP must not keep serving the release gunicorn started in."""
    for args in (["deploy", "v2"], ["rollback"], ["deploy", "v2"], ["rollback"]):
        staging.deploy_tool_checked(replica, args)
        current = readlink_current(staging, replica)
        for _ in range(10):
            assert served_release(replica) == current


def test_releases_lists_and_marks_current_and_bad(staging: Staging, replica: Replica) -> None:
    staging.deploy_tool_checked(replica, ["deploy", "v2"])
    staging.deploy_tool_checked(replica, ["rollback"])
    listing = staging.releases(replica)
    rows = {r["name"]: r for r in listing["releases"]}
    assert rows["v1"]["current"] is True and rows["v1"]["bad"] is False
    assert rows["v2"]["current"] is False and rows["v2"]["bad"] is True
    text = staging.deploy_tool_checked(replica, ["releases"]).stdout
    assert any(line.startswith("*") and "v1" in line for line in text.splitlines())


def test_status_names_url_release_and_containers(staging: Staging, replica: Replica) -> None:
    status = staging.status(replica)
    assert status["url"] == replica.url and status["url"].startswith("http://127.0.0.1:")
    assert status["current_release"] == readlink_current(staging, replica)
    assert status["current_name"] == "v1"
    assert {c["role"] for c in status["containers"]} == {"web", "db"}
    for container in status["containers"]:
        for bindings in container["ports"].values():
            assert all(b.startswith("127.0.0.1:") for b in bindings)


def test_containers_are_labelled_and_unprivileged(staging: Staging, replica: Replica) -> None:
    for container in staging.containers(replica.run_id):
        assert container.labels["gameday.run"] == replica.run_id
        assert container.labels["gameday.target"] == "shop"
        assert "gameday.scenario" in container.labels
        assert container.attrs["HostConfig"]["Privileged"] is False
    network = staging.client.networks.list(filters={"label": f"gameday.run={replica.run_id}"})
    volumes = staging.client.volumes.list(filters={"label": f"gameday.run={replica.run_id}"})
    assert len(network) == 1 and len(volumes) == 1


def test_a_systemd_web_host_boots_unprivileged_and_deploys_and_rolls_back(staging: Staging) -> None:
    """systemd as PID 1 with no privilege: its own /run and the cgroup tree read-only."""
    target = find_target("shop-systemd")
    images = ensure_images(staging.client, target, os.environ.get("BASE_IMAGE", DEFAULT_BASE_IMAGE), staging.say)
    run_id = new_run_id("test-systemd-host", datetime.now(UTC))
    replica = staging.create(target, images, run_id, "test")
    try:
        container = staging.client.containers.get(replica.web)
        host = container.attrs["HostConfig"]
        assert host["Privileged"] is False and not host.get("CapAdd")
        assert set(host["Tmpfs"]) == {"/run", "/run/lock"}
        assert "/sys/fs/cgroup:/sys/fs/cgroup:ro" in host["Binds"]
        assert container.attrs["Config"]["StopSignal"] == "SIGRTMIN+3"
        assert container.exec_run(["cat", "/proc/1/comm"]).output.decode().strip() == "systemd"
        staging.deploy_tool_checked(replica, ["deploy", "v1"])
        environment = ReplicaEnvironment(staging, replica)
        states = Systemd(environment).states()
        assert states["web"] == states["worker"] == "active (running)", states
        v1 = readlink_current(staging, replica)
        with Traffic(replica.url, rate=40) as traffic:
            staging.deploy_tool_checked(replica, ["deploy", "v2"])
            staging.deploy_tool_checked(replica, ["rollback"])
        assert readlink_current(staging, replica) == v1 and served_release(replica) == v1
        assert traffic.failed == [] and traffic.versions()[-1] == v1
        reload = [r for r in deploy_log(staging, replica) if r["step"] == "reload"][-1]
        assert str(reload["detail"]).startswith("web: HUP"), reload
    finally:
        staging.remove(run_id)
    assert staging.run_ids().count(run_id) == 0
