"""The deploy tool inside a real web host: gate, lock, bad input, the db step, aborts and
interrupts."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from harness.config.target import Target
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


DEPLOY_LOG = "/srv/app/shared/log/deploy.jsonl"
LOG_FIELDS = ["ts", "action", "step", "release", "release_dir", "ok", "duration_s", "detail"]


def deploy_log(staging: Staging, replica: Replica, release: str) -> list[dict[str, Any]]:
    """The lines of the last deploy of `release`, from its lock to its end."""
    lines = [json.loads(x) for x in staging.read_file(replica, DEPLOY_LOG).splitlines()]
    assert all(list(x) == LOG_FIELDS for x in lines)
    start = max(i for i, x in enumerate(lines)
                if x["action"] == "deploy" and x["step"] == "lock" and x["release"] == release)
    return lines[start:]


def lock_is_free(staging: Staging, replica: Replica) -> bool:
    return "deploy.lock" not in host_exec(staging, replica, "ls", "-a", "/srv/app/shared")


def interrupt_deploy(staging: Staging, replica: Replica, args: str, when: str) -> int:
    """Start `deploy ARGS` in the web host, SIGTERM it once the shell test `when` holds,
    and return its exit status."""
    script = f"""
deploy deploy {args} >/tmp/deploy.out 2>&1 &
pid=$!
until {when}; do
  kill -0 $pid 2>/dev/null || break
  sleep 0.02
done
kill -TERM $pid
wait $pid
echo "exit=$?"
"""
    out = host_exec(staging, replica, "sh", "-c", script)
    return int(out.rsplit("exit=", 1)[1])


def test_a_migration_whose_gate_fails_is_reverted_by_the_abort(
    staging: Staging, replica: Replica, shop: Target
) -> None:
    before = release_dirs(staging, replica)
    served = httpx.get(f"{replica.url}/version").json()["release"]
    with pytest.raises(DeployToolError) as err:
        staging.deploy_tool_checked(replica, ["deploy", "bad-migration-bad-health"])
    assert err.value.exit_code == 1 and "health gate" in str(err.value)

    # The live v1 still serves, and the column it reads is back.
    assert httpx.get(f"{replica.url}/version").json()["release"] == served
    assert httpx.get(f"{replica.url}/orders").status_code == 200
    staging.sql(replica, shop.database, "SELECT customer FROM orders LIMIT 1")
    assert release_dirs(staging, replica) == before
    assert lock_is_free(staging, replica)

    log = deploy_log(staging, replica, "bad-migration-bad-health")
    steps = {x["step"]: x for x in log}
    rid = steps["release"]["release_dir"]
    assert rid and rid not in before
    after_release = log[[x["step"] for x in log].index("release"):]
    assert {(x["release"], x["release_dir"]) for x in after_release} == {("bad-migration-bad-health", rid)}
    assert [x["step"] for x in after_release] == [
        "release", "shared", "snapshot", "migrate", "gate", "revert_db", "abort", "unlock"]
    assert steps["migrate"]["detail"] == "applied 002_drop_customer"
    assert steps["revert_db"]["ok"] and steps["revert_db"]["detail"] == "reverted 002_drop_customer"
    assert steps["abort"]["ok"]
    assert steps["abort"]["detail"].startswith("aborted after its migration committed; schema reverted")


def test_sigterm_during_the_gate_reverts_the_migration_and_leaves_no_gate_server(
    staging: Staging, replica: Replica, shop: Target
) -> None:
    before = release_dirs(staging, replica)
    migrated = f"grep -q '\"step\": \"migrate\", \"release\": \"bad-migration-bad-health\"' {DEPLOY_LOG}"
    assert interrupt_deploy(staging, replica, "bad-migration-bad-health", migrated) == 143

    assert lock_is_free(staging, replica)
    assert host_exec(staging, replica, "sh", "-c", "grep -la '[g]ate-' /proc/[0-9]*/cmdline; true").strip() == ""
    staging.sql(replica, shop.database, "SELECT customer FROM orders LIMIT 1")
    assert release_dirs(staging, replica) == before
    steps = {x["step"]: x for x in deploy_log(staging, replica, "bad-migration-bad-health")}
    assert (steps["gate"]["ok"], steps["gate"]["detail"]) == (False, "interrupted by SIGTERM")
    assert steps["revert_db"]["ok"]
    assert steps["abort"]["detail"].startswith("aborted after its migration committed; schema reverted")
    assert "interrupted" not in steps  # nothing went live


def test_verify_fails_fast_when_the_release_cannot_boot(staging: Staging, replica: Replica) -> None:
    v1 = httpx.get(f"{replica.url}/version").json()["release"]
    started = time.monotonic()
    with pytest.raises(DeployToolError) as err:
        staging.deploy_tool_checked(replica, ["deploy", "unbootable", "--no-gate"])
    took = time.monotonic() - started
    # Supervisord's evidence ended the wait, not the 15 s cap (which says "after the swap
    # /version answers ..."); the bound on the whole deploy is only a loose sanity check.
    assert "the release could not boot" in str(err.value) and "after the swap" not in str(err.value)
    assert took < 30.0, f"the deploy took {took:.1f}s"
    staging.deploy_tool_checked(replica, ["rollback"])
    assert httpx.get(f"{replica.url}/version").json()["release"] == v1


def test_sigterm_after_the_swap_leaves_the_release_live_and_the_lock_free(
    staging: Staging, replica: Replica
) -> None:
    v1 = httpx.get(f"{replica.url}/version").json()["release"]
    swapped = f'[ "$(readlink /srv/app/current)" != "releases/{v1}" ]'
    assert interrupt_deploy(staging, replica, "unbootable --no-gate", swapped) == 143

    assert lock_is_free(staging, replica)
    log = deploy_log(staging, replica, "unbootable")
    rid = log[1]["release_dir"]
    assert host_exec(staging, replica, "readlink", "/srv/app/current").strip() == f"releases/{rid}"
    failed = [x for x in log if not x["ok"]]
    interrupted = next(x for x in failed if x["step"] == "interrupted")
    assert "is live" in interrupted["detail"]
    # The step it was in, if any, says so; on a busy machine its line may land just after.
    assert all(x["detail"] == "interrupted by SIGTERM" for x in failed if x is not interrupted), failed
    assert [x["step"] for x in log][-1] == "unlock"
    assert {x["release_dir"] for x in log[1:]} == {rid}

    # At once, as gameday does: the rollback meets no lock and v1 serves again.
    staging.deploy_tool_checked(replica, ["rollback"])
    assert httpx.get(f"{replica.url}/version").json()["release"] == v1
    assert httpx.get(f"{replica.url}/orders").status_code == 200


def killed_deploy(staging: Staging, replica: Replica, args: str, step: str) -> int:
    """Run `deploy ARGS` in the web host, killed by SIGKILL after `step` (the
    `fault.killed_after` seam); returns its exit status."""
    out = host_exec(staging, replica, "sh", "-c",
                    f'GAMEDAY_KILL_AFTER_STEP={step} deploy deploy {args} >/tmp/deploy.out 2>&1; echo "exit=$?"')
    return int(out.rsplit("exit=", 1)[1])


def test_a_killed_deploy_leaves_its_lock_and_the_next_command_breaks_it(
    staging: Staging, replica: Replica
) -> None:
    v1 = httpx.get(f"{replica.url}/version").json()["release"]
    # Killed after the reload: its release is live and nothing released the lock.
    assert killed_deploy(staging, replica, "v2", "reload") == 137
    assert not lock_is_free(staging, replica)
    owner = json.loads(host_exec(staging, replica, "cat", "/srv/app/shared/deploy.lock/owner.json"))
    log = deploy_log(staging, replica, "v2")
    assert [x["step"] for x in log][-1] == "reload"  # no verify, no unlock
    # The rollback meets the lock, sees its owner is gone, breaks it and goes on.
    out = staging.deploy_tool_checked(replica, ["rollback"]).stdout
    assert f"broke stale lock of pid {owner['pid']}" in out
    assert httpx.get(f"{replica.url}/version").json()["release"] == v1
    assert lock_is_free(staging, replica)
    # Killed after its migration: nothing went live; the next deploy breaks the lock too.
    assert killed_deploy(staging, replica, "v2", "migrate") == 137
    assert not lock_is_free(staging, replica)
    assert httpx.get(f"{replica.url}/version").json()["release"] == v1
    out = staging.deploy_tool_checked(replica, ["deploy", "v2"]).stdout
    assert "broke stale lock of pid" in out
    assert lock_is_free(staging, replica)
    assert httpx.get(f"{replica.url}/version").json()["release"] != v1
