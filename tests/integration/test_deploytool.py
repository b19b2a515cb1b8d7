"""The deploy tool inside a real web host: gate, lock, bad input and the db step."""

from __future__ import annotations

import time

import httpx
import pytest

from harness.environment.replica import Replica, Staging
from harness.errors import DeployToolError


def host_exec(staging: Staging, replica: Replica, *argv: str) -> str:
    result = staging.client.containers.get(replica.web).exec_run(list(argv))
    return str(result.output.decode())


def release_dirs(staging: Staging, replica: Replica) -> list[str]:
    return host_exec(staging, replica, "ls", "/srv/app/releases").split()


def test_unknown_release_is_refused_and_creates_nothing(staging: Staging, replica: Replica) -> None:
    before = release_dirs(staging, replica)
    with pytest.raises(DeployToolError) as err:
        staging.deploy_tool_checked(replica, ["deploy", "v99"])
    assert err.value.exit_code == 2
    assert str(err.value).startswith("unknown release 'v99'; known: ")
    assert release_dirs(staging, replica) == before


def test_deploy_while_locked_is_refused_and_creates_nothing(staging: Staging, replica: Replica) -> None:
    before = release_dirs(staging, replica)
    # A live holder: pid 1 (supervisord) never goes away.
    host_exec(staging, replica, "sh", "-c",
              'mkdir /srv/app/shared/deploy.lock && echo \'{"pid": 1, "action": "deploy"}\' '
              "> /srv/app/shared/deploy.lock/owner.json")
    with pytest.raises(DeployToolError) as err:
        staging.deploy_tool_checked(replica, ["deploy", "v2"])
    assert err.value.exit_code == 2
    assert "deploy is locked by deploy (pid 1)" in str(err.value)
    assert release_dirs(staging, replica) == before


def test_the_gate_keeps_an_unhealthy_release_away_from_users(staging: Staging, replica: Replica) -> None:
    before = release_dirs(staging, replica)
    served = httpx.get(f"{replica.url}/version").json()["release"]
    with pytest.raises(DeployToolError) as err:
        staging.deploy_tool_checked(replica, ["deploy", "bad-health"])
    assert err.value.exit_code == 1
    assert "health gate" in str(err.value) and "db" in str(err.value)
    assert release_dirs(staging, replica) == before
    assert httpx.get(f"{replica.url}/version").json()["release"] == served
    assert "deploy.lock" not in host_exec(staging, replica, "ls", "-a", "/srv/app/shared")


def test_without_the_gate_the_unhealthy_release_goes_live(staging: Staging, replica: Replica) -> None:
    staging.deploy_tool_checked(replica, ["deploy", "bad-health", "--no-gate"])
    health = httpx.get(f"{replica.url}/health")
    assert health.status_code == 503
    assert "db" in health.json()["failed"]
    staging.deploy_tool_checked(replica, ["rollback"])
    assert httpx.get(f"{replica.url}/health").status_code == 200


def test_code_rollback_alone_does_not_undo_a_destructive_migration(staging: Staging, replica: Replica) -> None:
    assert httpx.get(f"{replica.url}/orders").status_code == 200
    staging.deploy_tool_checked(replica, ["deploy", "bad-migration"])
    staging.deploy_tool_checked(replica, ["rollback"])
    # v1 is back, but the column it reads is gone.
    assert httpx.get(f"{replica.url}/orders").status_code == 500
    staging.deploy_tool_checked(replica, ["rollback", "--db-only"])
    assert httpx.get(f"{replica.url}/orders").status_code == 200


def test_rollback_with_db_reverts_the_schema_in_one_command(staging: Staging, replica: Replica) -> None:
    staging.deploy_tool_checked(replica, ["deploy", "bad-migration"])
    assert httpx.get(f"{replica.url}/orders").status_code == 200  # the new release itself works
    staging.deploy_tool_checked(replica, ["rollback", "--db"])
    assert httpx.get(f"{replica.url}/orders").status_code == 200
    created = httpx.post(f"{replica.url}/orders", json={"item": "tea", "qty": 2, "customer": "ada"})
    assert created.status_code == 201


def test_the_worker_pays_each_order_once(staging: Staging, replica: Replica) -> None:
    ids = [httpx.post(f"{replica.url}/orders", json={"item": "tea", "qty": 1}).json()["id"] for _ in range(5)]
    for order_id in ids:
        for _ in range(50):
            if httpx.get(f"{replica.url}/orders/{order_id}").json()["paid"]:
                break
            time.sleep(0.1)
        assert httpx.get(f"{replica.url}/orders/{order_id}").json()["paid"] is True
