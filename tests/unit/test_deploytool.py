import io
import json
import os
import signal
import xmlrpc.client
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.webhost import deploytool
from harness.webhost.deploytool import (
    AbortPlan,
    DeployError,
    DeployLog,
    Host,
    Interrupted,
    Interrupts,
    Layout,
    Lock,
    Migration,
    ReleaseRef,
    ServerWatch,
    StepRecord,
    TargetCommands,
    abort,
    abort_plan,
    boot_failure,
    needs_revert,
    previous_release,
    release_id,
    releases_to_remove,
    render,
    rollback,
    swap,
    tolerate,
)

NOW = datetime(2026, 11, 28, 10, 15, 0, tzinfo=UTC)


def test_release_id_is_a_utc_timestamp():
    assert release_id(NOW, []) == "20261128T101500Z"


def test_release_id_suffixes_a_taken_second():
    assert release_id(NOW, ["20261128T101500Z"]) == "20261128T101500Z-1"
    assert release_id(NOW, ["20261128T101500Z", "20261128T101500Z-1"]) == "20261128T101500Z-2"


def test_release_ids_sort_by_time_then_suffix():
    ids = ["20261128T101500Z-10", "20261128T101500Z", "20261128T101500Z-2", "20261127T000000Z"]
    assert sorted(ids, key=deploytool.release_sort_key) == [
        "20261127T000000Z", "20261128T101500Z", "20261128T101500Z-2", "20261128T101500Z-10",
    ]


def test_previous_release_skips_bad_ones():
    ordered = ["a", "b", "c", "d"]
    assert previous_release(ordered, "d", set()) == "c"
    assert previous_release(ordered, "d", {"c"}) == "b"
    assert previous_release(ordered, "a", set()) is None
    assert previous_release(ordered, None, set()) is None


def test_retention_keeps_the_newest():
    ordered = [f"r{i}" for i in range(8)]
    assert releases_to_remove(ordered, "r7", "r6", keep=3) == ["r0", "r1", "r2", "r3", "r4"]


def test_retention_never_removes_current_or_previous():
    ordered = [f"r{i}" for i in range(8)]
    # After a rollback to an old release, current and its predecessor are old.
    doomed = releases_to_remove(ordered, "r1", "r0", keep=2)
    assert "r0" not in doomed and "r1" not in doomed
    assert doomed == ["r2", "r3", "r4", "r5"]
    assert releases_to_remove(ordered, "r7", "r6", keep=0) == ["r0", "r1", "r2", "r3", "r4", "r5"]


def test_render_fills_placeholders_per_word():
    assert render("gunicorn --chdir {release} --bind unix:{socket} app:x", release="/r/1", socket="/s") == [
        "gunicorn", "--chdir", "/r/1", "--bind", "unix:/s", "app:x",
    ]


def layout(tmp_path: Path) -> Layout:
    lay = Layout(root=tmp_path / "app", builds=tmp_path / "builds", run=tmp_path / "run")
    for rid in ("20261128T100000Z", "20261128T101500Z"):
        (lay.releases / rid).mkdir(parents=True)
    lay.shared.mkdir(parents=True)
    return lay


def test_swap_points_current_at_a_relative_release(tmp_path):
    lay = layout(tmp_path)
    swap(lay, "20261128T100000Z")
    assert os.readlink(lay.current) == "releases/20261128T100000Z"
    swap(lay, "20261128T101500Z")
    assert os.readlink(lay.current) == "releases/20261128T101500Z"
    assert lay.current.resolve() == (lay.releases / "20261128T101500Z").resolve()
    assert not (lay.root / "current.tmp").exists()


def test_swap_is_a_rename_so_current_never_disappears(tmp_path, monkeypatch):
    lay = layout(tmp_path)
    swap(lay, "20261128T100000Z")
    seen = []
    real_replace = os.replace

    def watching_replace(src, dst):
        seen.append(os.readlink(lay.current))  # current still there just before the rename
        real_replace(src, dst)

    monkeypatch.setattr(deploytool.os, "replace", watching_replace)
    swap(lay, "20261128T101500Z")
    assert seen == ["releases/20261128T100000Z"]


def test_lock_is_exclusive_while_its_owner_lives(tmp_path):
    lock = Lock(tmp_path / "deploy.lock")
    assert lock.acquire("deploy") == ""
    with pytest.raises(DeployError) as err:
        Lock(tmp_path / "deploy.lock").acquire("rollback")
    assert err.value.code == 2
    assert f"pid {os.getpid()}" in str(err.value)
    lock.release()
    assert Lock(tmp_path / "deploy.lock").acquire("deploy") == ""


def test_lock_breaks_when_its_owner_is_gone(tmp_path):
    path = tmp_path / "deploy.lock"
    path.mkdir()
    (path / "owner.json").write_text(json.dumps({"pid": 2**22 + 12345, "started": 0, "action": "deploy"}))
    note = Lock(path).acquire("deploy")
    assert "broke stale lock" in note
    assert json.loads((path / "owner.json").read_text())["pid"] == os.getpid()


def test_lock_breaks_when_too_old(tmp_path):
    path = tmp_path / "deploy.lock"
    path.mkdir()
    (path / "owner.json").write_text(json.dumps({"pid": 1, "started": 0}))
    assert "broke stale lock" in Lock(path, stale_after_s=60).acquire("deploy")


LOG_FIELDS = ["ts", "action", "step", "release", "release_dir", "ok", "duration_s", "detail"]


def read_log(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_deploy_log_writes_one_json_line_per_step(tmp_path):
    out = io.StringIO()
    log = DeployLog(tmp_path / "log" / "deploy.jsonl", "deploy", out=out)
    ref = ReleaseRef("v2", "20261129T101500Z")
    with log.step("migrate", ref) as detail:
        detail.append("applied 002")
    with pytest.raises(DeployError):
        with log.step("gate", ref):
            raise DeployError("health gate: /health not healthy")
    lines = read_log(tmp_path / "log" / "deploy.jsonl")
    assert [(x["step"], x["ok"], x["detail"]) for x in lines] == [
        ("migrate", True, "applied 002"),
        ("gate", False, "health gate: /health not healthy"),
    ]
    assert lines[0]["ts"].endswith("Z")
    assert "FAIL deploy gate" in out.getvalue()  # the line for people stays


def test_every_log_line_has_exactly_the_typed_fields(tmp_path):
    log = DeployLog(tmp_path / "deploy.jsonl", "deploy", out=io.StringIO())
    log.write("lock", ReleaseRef("v2"), True, 0.0012345, "")
    log.write("release", ReleaseRef("v2", "20261129T101500Z"), True, 0.5, "v2 -> releases/20261129T101500Z")
    lock, release = read_log(tmp_path / "deploy.jsonl")
    assert list(lock) == LOG_FIELDS and list(release) == LOG_FIELDS
    assert (lock["action"], lock["release"], lock["release_dir"], lock["duration_s"]) == ("deploy", "v2", None, 0.0012)
    assert (release["step"], release["release"], release["release_dir"]) == ("release", "v2", "20261129T101500Z")


def test_a_step_record_has_one_json_form():
    record = StepRecord("2026-11-29T10:15:00.000000Z", "rollback", "swap", "v1", "20261128T100000Z",
                        True, 0.01, "current: a -> b")
    assert json.loads(record.to_json()) == {
        "ts": "2026-11-29T10:15:00.000000Z", "action": "rollback", "step": "swap", "release": "v1",
        "release_dir": "20261128T100000Z", "ok": True, "duration_s": 0.01, "detail": "current: a -> b",
    }


# --- the abort decision ---------------------------------------------------------------


def test_an_abort_before_the_migration_just_removes_the_release():
    assert not needs_revert(Migration.NOT_RUN)
    assert abort_plan(Migration.NOT_RUN, reverted=False) == AbortPlan(True, None, True, "aborted before its migration")


def test_an_abort_after_a_committed_migration_reverts_it_first():
    assert needs_revert(Migration.COMMITTED)
    plan = abort_plan(Migration.COMMITTED, reverted=True)
    assert plan.remove_release and plan.ok and plan.bad_reason is None
    assert plan.detail == "aborted after its migration committed; schema reverted"


def test_an_unreverted_migration_keeps_the_release_as_bad_for_db_only():
    plan = abort_plan(Migration.COMMITTED, reverted=False)
    assert not plan.remove_release and not plan.ok
    assert plan.bad_reason == "aborted after its migration committed; schema not reverted"
    assert plan.detail.endswith("schema NOT reverted; release kept as BAD for rollback --db-only")


def test_a_migration_stopped_part_way_is_reverted_too():
    # It may have committed some of its steps before it failed or was interrupted.
    assert needs_revert(Migration.STARTED)
    assert abort_plan(Migration.STARTED, reverted=True).remove_release
    kept = abort_plan(Migration.STARTED, reverted=False)
    assert not kept.remove_release and kept.bad_reason == "aborted during its migration; schema not reverted"


CURRENT_RID, NEW_RID = "20261128T100000Z", "20261129T101500Z"


def abandoned_host(tmp_path: Path, down_migrate: str | None) -> tuple[Host, io.StringIO]:
    """A host with v1 live and a v2 release that never went live."""
    lay = Layout(root=tmp_path / "app", builds=tmp_path / "builds", run=tmp_path / "run")
    for rid, name in ((CURRENT_RID, "v1"), (NEW_RID, "v2")):
        (lay.releases / rid).mkdir(parents=True)
        (lay.releases / rid / "REVISION").write_text(name + "\n")
    lay.shared.mkdir(parents=True)
    swap(lay, CURRENT_RID)
    target = TargetCommands(web="true", worker="true", health_path="/health", gate_path="/health",
                            version_path="/version", migrate="true", down_migrate=down_migrate)
    out = io.StringIO()
    return Host(lay, target, DeployLog(lay.log, "deploy", out=out)), out


def test_abort_reverts_a_committed_migration_then_removes_the_release(tmp_path):
    host, _ = abandoned_host(tmp_path, "sh -c 'echo reverted 002 to $0' {target}")
    abort(host, ReleaseRef("v2", NEW_RID), Migration.COMMITTED)
    assert host.release_ids() == [CURRENT_RID]
    revert, done = read_log(host.layout.log)
    assert (revert["step"], revert["ok"], revert["release_dir"]) == ("revert_db", True, NEW_RID)
    assert revert["detail"] == f"reverted 002 to {host.layout.releases / CURRENT_RID}"
    assert (done["step"], done["ok"], done["release"], done["release_dir"]) == ("abort", True, "v2", NEW_RID)
    assert done["detail"] == (f"aborted after its migration committed; schema reverted; "
                              f"removed releases/{NEW_RID}; current stays {CURRENT_RID}")


def test_abort_keeps_the_release_as_bad_when_the_revert_fails(tmp_path):
    host, _ = abandoned_host(tmp_path, "sh -c 'echo connection refused; exit 1'")
    abort(host, ReleaseRef("v2", NEW_RID), Migration.COMMITTED)
    assert host.release_ids() == [CURRENT_RID, NEW_RID]
    assert host.bad() == {NEW_RID}
    assert (host.layout.releases / NEW_RID / "BAD").read_text().startswith(
        "aborted after its migration committed; schema not reverted at ")
    revert, done = read_log(host.layout.log)
    assert (revert["step"], revert["ok"]) == ("revert_db", False)
    assert "connection refused" in revert["detail"]
    assert (done["step"], done["ok"]) == ("abort", False)
    assert "schema NOT reverted; release kept as BAD for rollback --db-only" in done["detail"]


def test_abort_keeps_the_release_without_a_down_migration_or_a_snapshot(tmp_path):
    host, _ = abandoned_host(tmp_path, None)
    abort(host, ReleaseRef("v2", NEW_RID), Migration.COMMITTED)
    assert host.bad() == {NEW_RID}
    assert "no down migration and no snapshot" in read_log(host.layout.log)[0]["detail"]


def test_db_only_rollback_finds_a_release_kept_by_an_abort(tmp_path):
    host, _ = abandoned_host(tmp_path, "false")
    abort(host, ReleaseRef("v2", NEW_RID), Migration.COMMITTED)
    fixed = Host(host.layout, replace(host.target, down_migrate="echo reverted 002"),
                 DeployLog(host.layout.log, "rollback", out=io.StringIO()))
    assert rollback(fixed, None, db=False, db_only=True) == 0
    lines = read_log(host.layout.log)
    db = next(x for x in lines if x["step"] == "db")
    assert (db["action"], db["ok"], db["release"], db["release_dir"], db["detail"]) == (
        "rollback", True, "v2", NEW_RID, "reverted 002")
    assert [x["step"] for x in lines if x["action"] == "rollback"] == ["lock", "db", "unlock"]
    assert not host.layout.lock.exists()


def test_abort_before_the_migration_runs_no_revert(tmp_path):
    host, _ = abandoned_host(tmp_path, "false")
    abort(host, ReleaseRef("v2", NEW_RID), Migration.NOT_RUN)
    assert host.release_ids() == [CURRENT_RID]
    assert [x["step"] for x in read_log(host.layout.log)] == ["abort"]


# --- verify: an app server that cannot boot --------------------------------------------


def test_supervisord_verdicts_fail_at_once():
    assert boot_failure("FATAL", 0, 0.0) == "web is FATAL"
    assert boot_failure("BACKOFF", 0, 0.0) == "web is BACKOFF"
    assert boot_failure("RUNNING", 0, 0.0) is None
    assert boot_failure("STARTING", 1, 0.0) is None


def test_an_exited_program_counts_once_it_is_not_restarted():
    assert boot_failure("EXITED", 1, 0.2) is None  # autorestart is about to start it
    assert boot_failure("EXITED", 1, 1.0) == "web is EXITED and was not restarted"
    assert boot_failure("STOPPED", 0, 1.5) == "web is STOPPED and was not restarted"


def test_a_crash_loop_that_looks_running_fails_on_the_second_exit():
    # Under a config with startsecs=0 supervisord shows a server that dies at boot as RUNNING.
    watch = ServerWatch(reloaded_at=1000.2)
    info = {"statename": "RUNNING", "stop": 999, "exitstatus": 0}
    assert watch.observe(info, now=1.0) is None  # an exit from before the reload
    assert watch.observe({**info, "stop": 1001, "exitstatus": 3}, now=2.0) is None  # the old server may die once
    assert watch.observe({**info, "stop": 1001, "exitstatus": 3}, now=2.1) is None
    why = watch.observe({**info, "statename": "STARTING", "stop": 1002, "exitstatus": 3}, now=3.0)
    assert why == "web exited 2 times since the reload (now STARTING), last exit status 3"


def test_boot_watch_times_how_long_the_program_stays_down():
    watch = ServerWatch(reloaded_at=1000.0)
    exited = {"statename": "EXITED", "stop": 0, "exitstatus": 3}
    assert watch.observe(exited, now=5.0) is None
    assert watch.observe({**exited, "statename": "STARTING"}, now=5.5) is None  # restarted: the clock resets
    assert watch.observe(exited, now=6.0) is None
    assert watch.observe(exited, now=7.0) == "web is EXITED and was not restarted"


def running(pid: int, stop: int = 0) -> dict[str, object]:
    return {"statename": "RUNNING", "pid": pid, "stop": stop, "exitstatus": 0}


def test_a_steady_server_is_trusted_at_its_first_answer():
    watch = ServerWatch(reloaded_at=1000.5)
    assert watch.observe(running(42), now=1.0) is None
    assert watch.settled(now=1.0)


def test_after_a_recent_exit_one_pid_must_stay_up_before_an_answer_counts():
    # A crash-looping server started before the swap may answer from the right release,
    # then die as its other workers fail: wait until one pid has stayed RUNNING.
    watch = ServerWatch(reloaded_at=1000.5)
    assert watch.observe(running(42, stop=998), now=1.0) is None
    assert not watch.settled(now=1.0)
    assert watch.observe(running(43, stop=1001), now=1.5) is None  # 42 died, 43 took over
    assert not watch.settled(now=2.0)
    assert watch.observe(running(43, stop=1001), now=2.6) is None
    assert watch.settled(now=2.6)


def test_a_supervisord_call_may_race_the_programs_own_state():
    def not_running(*args: object) -> None:
        raise xmlrpc.client.Fault(deploytool.FAULT_NOT_RUNNING, "NOT_RUNNING: web")

    assert tolerate(deploytool.FAULT_NOT_RUNNING, not_running, "web") is False
    assert tolerate(deploytool.FAULT_NOT_RUNNING, lambda *a: None, "web") is True
    with pytest.raises(xmlrpc.client.Fault):
        tolerate(deploytool.FAULT_ALREADY_STARTED, not_running, "web")


# --- interrupts ------------------------------------------------------------------------


def test_sigterm_and_sigint_become_exit_statuses():
    term = Interrupted(signal.SIGTERM)
    assert (str(term), term.code) == ("interrupted by SIGTERM", 143)
    assert Interrupted(signal.SIGINT).code == 130


def test_the_first_signal_raises_and_later_ones_are_ignored():
    interrupts = Interrupts()
    with pytest.raises(Interrupted) as err:
        interrupts.handle(signal.SIGTERM)
    assert err.value.code == 143
    interrupts.handle(signal.SIGINT)  # the abort that follows must run to its end
    assert interrupts.exit_code == 143


def test_a_shielded_block_finishes_before_the_signal_is_raised():
    interrupts = Interrupts()
    done = []
    with pytest.raises(Interrupted):
        with interrupts.shielded():
            with interrupts.shielded():
                interrupts.handle(signal.SIGINT)
                done.append("inner")
            done.append("outer")
    assert done == ["inner", "outer"]
    assert interrupts.exit_code == 130
    with interrupts.shielded():  # raised once only
        pass


def test_installed_handlers_raise_in_the_main_thread_and_are_restored():
    interrupts = Interrupts()
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted):
        with interrupts.installed():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs between bytecodes
                pass
            pytest.fail("SIGTERM did not interrupt")
    assert signal.getsignal(signal.SIGTERM) is before


def test_summarize_health_names_the_failed_check():
    body = json.dumps({"failed": ["db"], "checks": {"db": {"ok": False, "detail": "database \"x\" does not exist"}}})
    assert deploytool.summarize_health(body) == 'failed db: database "x" does not exist'


def test_a_rollback_goes_back_to_an_older_good_release_only():
    assert deploytool.rollback_refusal("20261129T100000Z", "20261129T110000Z", False) is None
    newer = deploytool.rollback_refusal("20261129T120000Z", "20261129T110000Z", False)
    assert newer is not None and "not a rollback" in newer
    bad = deploytool.rollback_refusal("20261129T100000Z", "20261129T110000Z", True)
    assert bad is not None and "marked bad" in bad


@pytest.mark.parametrize(("props", "statename", "shown"), [
    ({"ActiveState": "active", "SubState": "running", "MainPID": "42"}, "RUNNING", "active (running)"),
    ({"ActiveState": "activating", "SubState": "auto-restart"}, "BACKOFF", "activating (auto-restart)"),
    ({"ActiveState": "failed", "SubState": "failed", "Result": "exit-code"}, "FATAL", "failed (Result: exit-code)"),
    ({"ActiveState": "inactive", "SubState": "dead"}, "STOPPED", "inactive (dead)"),
    ({"ActiveState": "activating", "SubState": "start-post"}, "STARTING", "activating (start-post)"),
])
def test_a_systemd_unit_reads_as_supervisords_states_for_the_boot_rules(props, statename, shown):
    info = deploytool.unit_info({**props, "ExecMainExitTimestamp": "@1800000000.5", "ExecMainStatus": "3"})
    assert (info["statename"], info["shown"]) == (statename, shown)
    assert info["stop"] == 1_800_000_000 and info["exitstatus"] == "3"
    assert info["pid"] == (42 if statename == "RUNNING" else 0)


def test_a_crash_looping_unit_fails_verify_in_systemds_words():
    watch = deploytool.ServerWatch(reloaded_at=1_800_000_000)
    info = deploytool.unit_info({"ActiveState": "activating", "SubState": "auto-restart",
                                 "ExecMainExitTimestamp": "@1800000001", "ExecMainStatus": "3"})
    why = watch.observe(info, now=10.0)
    assert why == "web is activating (auto-restart), last exit status 3"
    never = deploytool.unit_info({"ActiveState": "inactive", "SubState": "dead", "ExecMainExitTimestamp": "n/a"})
    assert never["stop"] == 0


def test_a_unit_systemd_restarted_since_the_reload_counts_as_exits_though_it_forgets_their_times():
    watch = deploytool.ServerWatch(reloaded_at=1_800_000_000)

    def unit(restarts: int) -> dict:
        # systemd clears ExecMainExitTimestamp when it starts the next main process.
        return deploytool.unit_info({"ActiveState": "active", "SubState": "running", "MainPID": str(100 + restarts),
                                     "NRestarts": str(restarts), "ExecMainExitTimestamp": ""})

    assert watch.observe(unit(4), now=1.0) is None and watch.settled(1.0)  # restarts before the reload
    assert watch.observe(unit(5), now=1.1) is None and not watch.settled(1.5)
    assert watch.observe(unit(6), now=1.6) == "web exited 2 times since the reload (now active (running))"
