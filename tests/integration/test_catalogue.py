"""The catalogue of deploy and rollback failures: each scenario runs and its result names
the outcome and the cause, the clean-round-trip check and the lint class of its gaps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.environment.replica import Staging
from tests.integration.browser import check_report, open_in_chromium
from tests.integration.test_runbook import no_leftovers, run
from tests.integration.test_stories import events

PREVENTABLE = "preventable before deploy"


def test_a_required_column_fails_the_old_releases_writes_while_health_stays_green(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("required-column", tmp_path)
    assert code == 1 and result["outcome"] == "gaps", result["reason"]
    # Only the request stream saw it: /health stayed green the whole time.
    ladder = {r["detector"]: r["detect_s"] for r in result["detection"]["ladder"]}
    assert ladder["error_rate"] is not None and ladder["health"] is None
    red = [e["detail"] for e in events(run_dir, "probe_changed") if e["detector"] == "health" and not e["ok"]]
    assert not any(detail.startswith("503") for detail in red), red
    assert result["recovery"]["code_rollback_recovered"] is False
    assert result["recovery"]["actions"] == ["rollback", "rollback --db-only"]
    # The new release wrote the column and served; the planned rollback broke the writes
    # again, and service held only after the db step.
    assert "code rollback alone did not recover" in result["incident"]["cause"]
    assert "broke service again" in result["incident"]["cause"]
    assert result["times"]["recovered_s"] is not None
    assert result["times"]["recovered_s"] > result["times"]["rollback_done_s"]
    # The region column went with the db step: the schema is as before the deploy.
    assert [c["clean"] for c in result["schema_checks"]] == [True]
    # Lint saw it coming: dropping the default is what makes v1's inserts fail.
    assert any(f["rule"] == "ban-drop-default" and f["release"] == "required-column"
               for f in result["lint"]["findings"])
    assert result["gaps"] and all(g["prevention"] == PREVENTABLE and "ban-drop-default" in g["rules"]
                                  for g in result["gaps"]), result["gaps"]
    assert result["hygiene"]["clean"], result["hygiene"]
    no_leftovers(staging, result)


def test_systemds_start_limit_refuses_the_rollback_and_reset_failed_recovers(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("start-limit", tmp_path)
    assert code == 1 and result["outcome"] == "gaps", result["reason"]
    assert result["environment"]["images"]["process_manager"] == "systemd"
    # The crash loop used up the start limit: systemd refused the rollback's start.
    [refused] = [e for e in events(run_dir, "rollback_finished") if e["action"] == "rollback"]
    assert refused["exit_status"] != 0 and "start request repeated too quickly" in refused["detail"]
    [fallback] = [e for e in events(run_dir, "rollback_finished") if e.get("fallback")]
    assert fallback["action"] == "restart" and fallback["exit_status"] == 0
    assert fallback["command"].startswith("systemctl reset-failed web.service")
    # The refused rollback and the recovery are two times: the rollback failed first.
    times = result["times"]
    assert times["rollback_failed_s"] is not None and times["recovered_s"] is not None
    assert times["rollback_started_s"] < times["rollback_failed_s"] < times["recovered_s"]
    gap = next(g for g in result["gaps"] if g["name"] == "rollback_failed")
    assert "start request repeated too quickly" in gap["cause"]
    assert gap["advice"].startswith("run `systemctl reset-failed`")
    assert result["hygiene"]["clean"], result["hygiene"]
    no_leftovers(staging, result)


def test_an_incomplete_down_migration_leaves_its_type_behind(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("incomplete-down", tmp_path)
    # No request failed, yet the round trip is not clean: the rollback only seemed to work.
    assert result["requests"]["failed_in_incident"] == 0
    assert result["recovery"]["actions"] == ["rollback --db"]
    assert code == 1 and result["outcome"] == "gaps", result["gaps"]
    [check] = result["schema_checks"]
    assert check["clean"] is False
    assert check["leftover"] == ["type order_status"] and check["missing"] == []
    [gap] = [g for g in result["gaps"] if g["name"] == "schema_round_trip"]
    assert "type order_status" in gap["cause"] and gap["measured"] == 1
    # squawk lints up scripts: nothing in them predicts a down script's leftover.
    assert gap["prevention"] == "needed runtime detection" and gap["rules"] == []
    junit = (run_dir / "junit.xml").read_text()
    assert 'name="schema_round_trip"' in junit and 'value="needed runtime detection"' in junit
    check_report(run_dir, "incomplete-down")
    page = open_in_chromium(run_dir / "report.html", "incomplete-down-sections",
                            ("#schema-checks", "#lint", "#gap-table td.prevention"))
    assert page.present["#schema-checks"] == 1 and page.present["#lint"] == 1
    assert page.present["#gap-table td.prevention"] == 1
    no_leftovers(staging, result)


def test_a_one_step_rename_breaks_the_live_release_until_the_schema_goes_back(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("renamed-column", tmp_path)
    assert code == 1 and result["outcome"] == "gaps", result["reason"]
    assert result["recovery"]["code_rollback_recovered"] is False
    assert result["recovery"]["actions"] == ["rollback", "rollback --db-only"]
    assert "code rollback alone did not recover" in result["incident"]["cause"]
    assert [c["clean"] for c in result["schema_checks"]] == [True]
    assert result["gaps"] and all(g["prevention"] == PREVENTABLE and "renaming-column" in g["rules"]
                                  for g in result["gaps"]), result["gaps"]
    no_leftovers(staging, result)


def test_lock_timeout_turns_a_queue_behind_the_migration_into_a_fast_abort(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, stalled, run_dir = run("lock-queue-stall", tmp_path / "stall")
    # Without lock_timeout: the ALTER waited behind the long transaction and every query
    # on orders queued behind it, for most of the blocker's 7 s; /health timed out too.
    assert code == 1 and stalled["outcome"] == "gaps", stalled["reason"]
    assert "its migration held up every query" in stalled["incident"]["cause"]
    assert "long transaction (`SELECT count(*) FROM orders`)" in stalled["incident"]["cause"]
    ladder = {r["detector"]: r["detect_s"] for r in stalled["detection"]["ladder"]}
    assert ladder["health"] is not None
    migrate = next(s for s in stalled["steps"] if s["action"] == "deploy" and s["name"] == "migrate")
    assert migrate["ok"] and migrate["duration_s"] > 4
    [gap] = [g for g in stalled["gaps"] if g["name"] == "time_to_recover_s"]
    assert gap["measured"] > 5
    # Lint named the missing lock_timeout before the deploy, and the stall makes it the cause.
    assert gap["prevention"] == PREVENTABLE and "require-lock-timeout" in gap["rules"]
    assert [c["clean"] for c in stalled["schema_checks"]] == [True]
    no_leftovers(staging, stalled)

    code, bounded, run_dir = run("lock-queue-stall-lock-timeout", tmp_path / "lock-timeout")
    # With lock_timeout = 1s: the migration gave up, the deploy aborted, nothing went live.
    assert code == 0 and bounded["outcome"] == "met", bounded["gaps"]
    assert "aborted at its migrate step" in bounded["incident"]["cause"]
    assert "lock timeout" in bounded["incident"]["cause"] and bounded["incident"]["went_live"] is False
    assert not any(f["rule"] == "require-lock-timeout" for f in bounded["lint"]["findings"])
    assert bounded["requests"]["failed_in_incident"] == 0
    assert bounded["times"]["impact_s"] is None or bounded["times"]["impact_end_s"] - bounded["times"]["impact_s"] < 3
    no_leftovers(staging, bounded)


def test_redeploying_the_old_version_leaves_the_schema_ahead_of_the_code(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("redeploy-old-version", tmp_path)
    assert result["recovery"]["actions"] == ["deploy v1"]
    assert result["requests"]["failed_in_incident"] == 0
    # v1 serves again, from a new release directory; its deploy only migrated up.
    assert result["releases"]["after"] not in (result["releases"]["before"], result["releases"]["deployed"])
    assert code == 1 and result["outcome"] == "gaps"
    assert any("002_add_coupon" in f and "live release v1 does not know" in f
               for f in result["hygiene"]["findings"]), result["hygiene"]
    # The round-trip check after the redeploy: the schema stayed ahead.
    [check] = result["schema_checks"]
    assert check["after"] == "redeploy" and check["clean"] is False and check["missing"] == []
    assert "column orders.coupon" in check["leftover"]
    [gap] = [g for g in result["gaps"] if g["name"] == "schema_round_trip"]
    assert "after the redeploy" in gap["cause"] and "column orders.coupon" in gap["cause"]
    no_leftovers(staging, result)


# wrapper-worker and interrupted-index run in tests/integration/test_nightly.py, whose
# nightly shows that a reused replica's reset clears what each leaves behind.
def wrapper_worker_outlives_the_rollback(result: dict[str, Any]) -> None:
    """wrapper-worker: a worker behind a wrapper that does not exec survives the rollback,
    hygiene names it and its release, and the jobs it took are counted."""
    assert result["outcome"] == "gaps"
    assert result["recovery"]["actions"] == ["rollback"]
    deployed = result["releases"]["deployed"]
    survivors = [f for f in result["hygiene"]["findings"] if "shop.worker" in f and f"/releases/{deployed}" in f]
    assert survivors, result["hygiene"]
    [stale] = [g for g in result["gaps"] if g["name"] == "stale_release_jobs"]
    assert stale["measured"] > 0 and f"by {deployed}" in stale["cause"]


def test_an_irreversible_migration_leaves_only_forward_or_a_restore(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("irreversible-migration", tmp_path)
    assert code == 1 and result["outcome"] == "gaps"
    [failed] = [g for g in result["gaps"] if g["name"] == "rollback_failed"]
    assert "002_qty_bigint has no down script" in failed["cause"]
    assert "the way back is forward" in failed["cause"] and "writes users made since" in failed["cause"]
    assert result["times"]["rollback_done_s"] is None
    assert any("002_qty_bigint" in f for f in result["hygiene"]["findings"]), result["hygiene"]
    no_leftovers(staging, result)


def test_jobs_the_rolled_back_release_enqueued_wait_for_a_worker_that_is_gone(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("mixed-queue-versions", tmp_path)
    assert code == 1 and result["outcome"] == "gaps"
    assert result["requests"]["failed_in_incident"] == 0 and result["recovery"]["actions"] == ["rollback"]
    assert result["jobs"]["lost"] > 0
    [gap] = [g for g in result["gaps"] if g["name"] == "lost_jobs"]
    assert "never taken by any worker" in gap["cause"] and "queue-v2" in gap["cause"], gap["cause"]
    no_leftovers(staging, result)


def test_the_realpath_trap_keeps_the_old_release_answering_after_the_swap(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("realpath-trap", tmp_path)
    assert code == 1 and result["outcome"] == "gaps"
    # current pointed at v2, yet no request was answered by it: the deploy tool's own
    # check saw it, and the gap times how long the old release went on answering.
    assert result["requests"]["failed_in_incident"] == 0 and result["requests"]["served_by_deployed"] == 0
    verify = next(s for s in result["steps"] if s["action"] == "deploy" and s["name"] == "verify")
    assert not verify["ok"] and result["releases"]["before"] in verify["detail"]
    [gap] = [g for g in result["gaps"] if g["name"] == "served_release_lag"]
    assert gap["measured"] > 5 and "realpath trap" in gap["cause"] and "never answered" in gap["cause"]
    assert result["releases"]["after"] == result["releases"]["before"]
    no_leftovers(staging, result)


def test_a_crash_loop_ends_in_fatal_and_the_late_rollback_starts_it_again(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("crash-loop", tmp_path)
    assert code == 1 and result["outcome"] == "gaps", result["reason"]
    # The deploy's verify step saw supervisord's own verdict on the app server.
    [finished] = events(run_dir, "deploy_finished")
    assert finished["exit_status"] != 0 and "could not boot" in finished["detail"]
    # With supervisord's defaults (startsecs=1, startretries=3) the worker, which dies at
    # boot, was crash-looping when the rollback came 15 s later: BACKOFF between starts,
    # FATAL once three starts in a row failed within startsecs (on a loaded machine a
    # failing start may outlive startsecs, and supervisord keeps retrying). The rollback's
    # reload started it again.
    before, after = events(run_dir, "processes_checked")
    assert before["when"] == "before the rollback"
    assert before["states"]["worker"] in ("BACKOFF", "FATAL", "STARTING", "EXITED"), before
    assert after["when"] == "after the rollback"
    # The rollback started the worker without waiting for supervisord's startsecs.
    assert after["states"]["web"] == "RUNNING" and after["states"]["worker"] in ("STARTING", "RUNNING")
    [done] = events(run_dir, "rollback_finished")
    assert done["exit_status"] == 0
    assert any("worker: starting" in line for line in done["output"]), done["output"]
    cause = result["incident"]["cause"]
    # The app server's own loop may or may not have reached FATAL (a boot that fails after
    # more than startsecs counts as a start, and supervisord keeps restarting it).
    assert "could not boot" in cause
    if any(state in ("BACKOFF", "FATAL", "EXITED") for state in before["states"].values()):
        assert "before the rollback supervisord showed" in cause
    if before["states"]["worker"] == "FATAL":
        assert "worker FATAL" in cause and "it had given up restarting" in cause
    assert result["times"]["recovered_s"] is not None
    assert result["hygiene"]["clean"], result["hygiene"]
    no_leftovers(staging, result)


def test_a_deploy_killed_mid_way_leaves_its_lock_and_the_rerun_breaks_it(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("stale-deploy-lock", tmp_path)
    assert result["incident"]["deploy_exit_status"] == 137 and result["incident"]["went_live"] is False
    [retry] = [e for e in events(run_dir, "rollback_finished") if e["action"] == "retry"]
    assert retry["exit_status"] == 0
    [lock_line] = [line for line in retry["output"] if " lock " in line]
    assert "broke stale lock of pid" in lock_line
    cause = result["incident"]["cause"]
    assert "the deploy was killed (SIGKILL) after its migrate step" in cause
    assert "its lock stayed behind" in cause and "its migration had committed" in cause
    assert "the next deploy met the lock and broke stale lock of pid" in cause
    assert "the rerun (`deploy v2`) succeeded" in cause
    # The rerun went live on the migration the killed deploy had already applied.
    assert result["releases"]["after"] != result["releases"]["before"]
    assert result["requests"]["failed_in_incident"] == 0
    assert code == 0 and result["outcome"] == "met", result["gaps"]
    no_leftovers(staging, result)


def the_rerun_hides_an_invalid_index(result: dict[str, Any], run_dir: Path) -> None:
    """interrupted-index: the concurrent index build is cancelled and leaves an INVALID
    index, the rerun "succeeds" past it, and only hygiene sees it."""
    # The build waited for the blocker's write lock until its statement_timeout.
    [finished] = events(run_dir, "deploy_finished")
    assert finished["exit_status"] == 1 and "statement timeout" in finished["detail"]
    assert result["incident"]["went_live"] is False
    # The rerun "succeeded": IF NOT EXISTS skipped over the INVALID index.
    [rerun] = [e for e in events(run_dir, "rollback_finished") if e["action"] == "retry"]
    assert rerun["exit_status"] == 0
    assert any("applied 002_orders_created_idx" in line for line in rerun["output"]), rerun["output"]
    cause = result["incident"]["cause"]
    assert "the deploy aborted at its migrate step" in cause and "the rerun (`deploy add-index`) succeeded" in cause
    # Only the hygiene check sees what is left: the index exists and is unusable.
    assert result["hygiene"]["findings"] == [
        "index orders_created_idx is INVALID (an interrupted CREATE INDEX CONCURRENTLY leaves one): "
        "drop and recreate it"]
    [gap] = result["gaps"]
    assert gap["name"] == "hygiene" and gap["prevention"] == "needed runtime detection"
    assert result["outcome"] == "gaps"


def test_a_column_type_change_breaks_prepared_statements_until_connections_recycle(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("cached-plan", tmp_path)
    assert code == 1 and result["outcome"] == "gaps", result["reason"]
    [gap] = [g for g in result["gaps"] if g["name"] == "failed_requests"]
    # The prepared release failed from the migration until the swap's reload gave it new
    # connections, and the cause quotes PostgreSQL's own refusal.
    assert "between the migration and the swap" in gap["cause"]
    assert 'the app logged "cached plan must not change result type"' in gap["cause"]
    assert "prepared statements" in gap["advice"]
    # squawk flags the type change before any deploy.
    assert gap["prevention"] == PREVENTABLE and "changing-column-type" in gap["rules"]
    assert result["times"]["recovered_s"] is not None
    no_leftovers(staging, result)
