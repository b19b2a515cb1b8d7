"""Causes and advice: what really happened in a run, why an objective was missed and what
to change. Every cause is built from what the run recorded (the timeline's decisions,
what was live, the request stream and the deployer's steps), never from an exit status
alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.config.faultspec import FaultSpec
from harness.config.scenario import Scenario
from harness.results.deploylog import DeployStep
from harness.results.model import Incident
from harness.results.timeline import Event

# Without a release header: the share of requests that must fail, with no answer from the
# app (a gateway error or none at all), between the swap and the rollback, for a release
# that went live to count as one that could not boot.
UNBOOTABLE_SHARE = 0.95
GATEWAY_STATUSES = {0, 502, 503, 504}
# Advice for an error the app logged, by a phrase of PostgreSQL's message.
KNOWN_APP_ERRORS = {
    "cached plan must not change result type": (
        "a migration changed what the live release's prepared statements return: change a column's type "
        "expand/contract (a new column, then a switch), or have the pool drop its prepared statements "
        "(DEALLOCATE ALL, or new connections) right after the migration"),
}
# A deploy's exit status when it died by SIGKILL (128 + 9).
KILLED_STATUS = 137
@dataclass(frozen=True)
class Story:
    """The facts `incident` reads: timeline events after t0, deploy steps after t0, the
    requests after t0 as (start ts, bad, status, release header), and the deployed
    release's directory (what a release header names) and name. `relapse_ts` is the first
    bad request after a recovery command broke a service that had come back
    (`harness.results.recovery.relapse_after`)."""

    events: Sequence[dict[str, Any]]
    steps: Sequence[DeployStep]
    requests: Sequence[tuple[float, bool, int, str]]
    recovered_ts: float | None
    impact_ts: float | None
    deployed_dir: str | None
    deployed_name: str | None
    relapse_ts: float | None = None

    def first(self, event: Event) -> dict[str, Any] | None:
        return next((e for e in self.events if e["event"] == event), None)


# Failures that start within this long of the deploy's end are the deploy's own doing (its
# reload or restart), not an outside cause.
DEPLOY_EFFECT_S = 1.0


@dataclass(frozen=True)
class Span:
    """The requests that started in a window: how many, how many were bad (failed or
    slower than the latency limit), how many of those failed outright, and the statuses
    of the bad ones."""

    total: int
    bad: int
    failed: int
    statuses: list[int]


def _impact(story: Story) -> str:
    """What users saw from the first bad request to recovery, as a clause for a cause."""
    if story.impact_ts is None:
        return "; no request failed or was slower than the latency limit"
    span = _span(story, story.impact_ts, story.recovered_ts)
    until = "until service recovered" if story.recovered_ts is not None else "and service did not recover"
    return (f"; then {span.bad} of {span.total} requests were bad ({span.failed} failed, "
            f"{span.bad - span.failed} slower than the latency limit) {until}")


def _span(story: Story, start: float, end: float | None) -> Span:
    window = [r for r in story.requests if r[0] >= start and (end is None or r[0] < end)]
    return Span(total=len(window), bad=sum(r[1] for r in window),
                failed=sum(1 for r in window if r[1] and not 200 <= r[2] < 400),
                statuses=sorted({r[2] for r in window if r[1]}))


def incident(story: Story, fault: FaultSpec) -> Incident:
    """What happened to the deploy, what was live, and what brought service back."""
    finished = story.first(Event.DEPLOY_FINISHED)
    interrupted = story.first(Event.DEPLOY_INTERRUPTED)
    live = story.first(Event.LIVE_CHECKED)
    rollback = story.first(Event.ROLLBACK_STARTED)
    went_live = None if live is None else bool(live["went_live"])
    exit_status = None if finished is None else finished.get("exit_status")
    recovered_first = (story.recovered_ts is not None and story.impact_ts is not None
                       and (rollback is None or story.recovered_ts < float(rollback["ts"])))
    fact = Incident(went_live=went_live, deploy_exit_status=exit_status,
                    deploy_interrupted=None if interrupted is None else str(interrupted["detail"]),
                    recovered_without_rollback=recovered_first if story.impact_ts is not None else None)
    return Incident(**{**fact.__dict__, "cause": _cause(story, fault, fact, rollback)})


def _cause(story: Story, fault: FaultSpec, fact: Incident, rollback: dict[str, Any] | None) -> str | None:
    told = fault.explain(story.events, story.impact_ts is not None)
    if told is not None:
        return told + _impact(story)  # the kind's own injection explains it, and what users saw follows
    if not fault.traits.deploys:
        return None  # only a deploy has a deploy's story
    could_not_run = story.first(Event.DEPLOY_FAILED_TO_RUN)
    if could_not_run is not None:
        return f"the fault's deploy could not run: {could_not_run.get('detail', '')}"
    finished = story.first(Event.DEPLOY_FINISHED)
    # The fault's own deploy: a rerun or a redeploy, after the first recovery command
    # started, logs deploy steps too.
    deploy_steps = [s for s in story.steps if s.action == "deploy"
                    and (rollback is None or s.ts < float(rollback["ts"]))]
    migrated = any(s.step == "migrate" and s.ok for s in deploy_steps)
    failed_step = next((s for s in deploy_steps if not s.ok), None)
    name = story.deployed_name or "the release"
    breaker = _breaker(story)
    parts: list[str] = []
    killed = fact.deploy_exit_status == KILLED_STATUS and finished is not None
    if killed:
        parts.append(_killed(story, deploy_steps, fact.went_live))
    if killed and fact.went_live is False:
        pass  # said: where it stopped and what it left
    elif fact.went_live is False and (fact.deploy_exit_status not in (None, 0) or failed_step is not None):
        where = f"at its {failed_step.step} step ({failed_step.detail})" if failed_step else "before the swap"
        if migrated:
            reverted = next((s for s in deploy_steps if s.step == "revert_db"), None)
            parts.append(f"the deploy aborted after its migration committed, {where}; nothing went live")
            if reverted is not None and reverted.ok:
                parts.append("the deploy tool reverted the schema on abort")
            elif story.first(Event.ERRORS_PERSIST) is not None:
                parts.append("requests kept failing on the old release until the schema was reverted")
            else:
                parts.append("the schema was left as the migration made it")
        else:
            parts.append(f"the deploy aborted {where}; nothing went live")
            if story.first(Event.ERRORS_PERSIST) is not None:
                parts.append("requests kept failing on the old release after the deploy ended: a change it made "
                             "(such as a migration) broke the old release until the schema was reverted")
    elif fact.went_live:
        swap = next((s.ts for s in deploy_steps if s.step == "swap" and s.ok), None)
        start = swap if swap is not None else (story.impact_ts or 0.0)
        end = None if rollback is None else float(rollback["ts"])
        span = _span(story, start, end)
        total, bad, statuses = span.total, span.bad, span.statuses
        window = [r for r in story.requests if r[0] >= start and (end is None or r[0] < end)]
        # "Could not boot": with a release header, the new release answered nothing (not
        # even an error) while requests kept failing up to the rollback; without one,
        # nearly every request got a gateway error or no answer.
        has_header = any(r[3] for r in story.requests)
        answered = sum(1 for r in window if r[3] and r[3] == story.deployed_dir)
        still_failing = bool(window) and window[-1][1]
        no_answer = bool(statuses) and set(statuses) <= GATEWAY_STATUSES
        finished = story.first(Event.DEPLOY_FINISHED)
        during_deploy = (story.impact_ts is not None and finished is not None
                         and story.impact_ts <= float(finished["ts"]) + DEPLOY_EFFECT_S)
        if breaker is not None and breaker is rollback:
            # Service came back while the release was live; the rollback broke it again.
            before = _span(story, story.impact_ts or 0.0, float(rollback["ts"]))
            migrate_end = next((s.ts for s in deploy_steps if s.step == "migrate" and s.ok), None)
            skew = 0 if migrate_end is None or swap is None else _span(
                story, migrate_end, swap + DEPLOY_EFFECT_S).bad
            if skew * 2 > before.bad:
                where = "between its migration and the swap, while the old code ran on the new schema"
            elif during_deploy:
                where = f"while its deploy ran ({_stalled_by(story, deploy_steps)})"
            else:
                where = "after it went live"
            parts.append(f"{name} went live; {before.bad} requests failed or stalled {where}, then service "
                         "recovered while it was still live")
        elif fact.recovered_without_rollback and during_deploy:
            # The deploy itself hurt (its reload, a lock) and service came back on its own.
            stall = _span(story, story.impact_ts or 0.0, story.recovered_ts)
            parts.append(f"{name} went live; while its deploy ran, {stall.failed} requests failed and "
                         f"{stall.bad - stall.failed} were "
                         f"slower than the latency limit ({_stalled_by(story, deploy_steps)}), and service recovered "
                         "while it was still live, before any rollback")
        elif fact.recovered_without_rollback:
            parts.append(f"{name} went live, and service recovered while it was still live, before any rollback: "
                         "the failures came from outside the deploy")
        elif (has_header and answered == 0 and bad >= 3 and still_failing) or (
                not has_header and total and bad / total >= UNBOOTABLE_SHARE and no_answer):
            shown = ", ".join(str(code) if code else "no answer" for code in statuses) or "errors"
            parts.append(f"{name} went live and could not boot: it answered no request, and {bad} of {total} "
                         f"requests failed ({shown}) between the swap and the start of the rollback")
        elif story.first(Event.CODE_ROLLBACK_NOT_RECOVERED) is not None:
            parts.append(f"{name} went live; its migration changed the schema so the previous release's "
                         "code fails against it, and the code rollback alone did not recover")
        elif bad:
            failed = span.failed
            if failed == bad:
                parts.append(f"{name} went live and failed {bad} of {total} requests before the rollback")
            else:
                # Answered, but slower than the latency limit: a stall (a reload, a lock), not errors.
                parts.append(f"{name} went live; before the rollback {failed} of {total} requests failed and "
                             f"{bad - failed} were slower than the latency limit")
        else:
            parts.append(f"{name} went live")
        if fact.deploy_interrupted:
            parts.append("the deploy was still running and was interrupted for the rollback")
    if breaker is not None and story.relapse_ts is not None:
        parts.append(_relapse(story, breaker))
    parts.extend(_process_states(story))
    parts.extend(_stale_locks(story))
    if rollback is not None:
        done = next((e for e in story.events if e["event"] == Event.ROLLBACK_FINISHED), None)
        if done is not None and done.get("exit_status") not in (0, None):
            parts.append(f"the {rollback.get('action', 'rollback')} command failed: {done.get('detail', '')}")
            fallback = next((e for e in story.events if e["event"] == Event.ROLLBACK_STARTED and e.get("fallback")
                             and float(e["ts"]) > float(done["ts"])), None)
            if fallback is not None:
                parts.append(f"then `{fallback.get('command')}` ran as the fallback ({fallback.get('action')})")
    rerun = next((e for e in story.events if e["event"] == Event.ROLLBACK_FINISHED and e.get("action") == "retry"),
                 None)
    if rerun is not None:
        parts.append(f"the rerun (`{rerun.get('command')}`) "
                     + ("succeeded" if rerun.get("exit_status") == 0 else f"exited {rerun.get('exit_status')}"))
    if fact.recovered_without_rollback and not parts:
        parts.append("service recovered without any rollback: the failures came from outside the deploy")
    if story.first(Event.RECOVERY_TIMED_OUT) is not None:
        parts.append("service did not recover within the recovery timeout")
    if not parts and story.impact_ts is not None:
        parts.append("requests failed after the fault")
    return "; ".join(parts) or None


def _killed(story: Story, steps: Sequence[DeployStep], went_live: bool | None) -> str:
    """A deploy that died by SIGKILL: where it stopped and what it left (its lock, a
    release directory never finished, a migration committed)."""
    last = steps[-1].step if steps else None
    text = "the deploy was killed (SIGKILL)" + (f" after its {last} step" if last else "")
    text += ", so none of its cleanup ran: its lock stayed behind"
    dirs = sorted({s.release_dir for s in steps if s.release_dir})
    if went_live is False:
        if dirs:
            text += f", releases/{dirs[-1]} was left unfinished"
        if any(s.step == "migrate" and s.ok for s in steps):
            text += ", its migration had committed"
        text += "; nothing went live"
    return text


def _stale_locks(story: Story) -> list[str]:
    """What the commands after the fault's deploy did with a lock it left: the built-in
    tool's lock step says when it broke one whose owner is gone, or refuses a live one."""
    finished = story.first(Event.DEPLOY_FINISHED)
    after = [s for s in story.steps if s.step == "lock" and finished is not None and s.ts > float(finished["ts"])]
    parts = []
    for step in after:
        if "broke stale lock" in step.detail:
            parts.append(f"the next {step.action} met the lock and {step.detail}")
        elif not step.ok and "locked by" in step.detail:
            parts.append(f"the next {step.action} was refused by the lock: {step.detail}")
    return parts


def _process_states(story: Story) -> list[str]:
    """What the process manager showed around the rollback when a program was not running:
    a crash loop or a program it gave up on changes what a rollback's reload can do. The
    manager judged its own states when they were read (`processes_checked`'s `down`,
    `gave_up` and `gave_up_for_good`)."""
    parts = []
    for check in (e for e in story.events if e["event"] == Event.PROCESSES_CHECKED):
        states = dict(check.get("states") or {})
        if not check.get("gave_up"):
            continue
        shown = ", ".join(f"{name} {states.get(name, '?')}" for name in check.get("down") or [])
        fatal = list(check.get("gave_up_for_good") or [])
        parts.append(f"{check.get('when', 'at the rollback')} {check.get('manager', 'the process manager')} showed "
                     f"{shown}" + (f" (it had given up restarting {', '.join(fatal)})" if fatal else ""))
    return parts


def _breaker(story: Story) -> dict[str, Any] | None:
    """The recovery command that broke service again after it had come back: the last one
    (not a rerun of the fault's deploy) that started before the relapse."""
    if story.relapse_ts is None:
        return None
    started = [e for e in story.events if e["event"] == Event.ROLLBACK_STARTED and e.get("action") != "retry"
               and float(e["ts"]) <= story.relapse_ts]
    return started[-1] if started else None


def _relapse(story: Story, breaker: dict[str, Any]) -> str:
    """What the command that broke service again did, and why when the run knows."""
    assert story.relapse_ts is not None
    after = _span(story, story.relapse_ts, story.recovered_ts)
    code_first = breaker.get("action") == "rollback" and story.first(Event.CODE_ROLLBACK_NOT_RECOVERED) is not None
    why = (" (its migration changed the schema so the previous release's code fails against it, and the code "
           "rollback alone did not recover)" if code_first else "")
    until = "until service held" if story.recovered_ts is not None else "and service did not hold again"
    return (f"the {breaker.get('action', 'rollback')} broke service again: {after.bad} requests failed or "
            f"stalled from then {until}{why}")


def _stalled_by(story: Story, deploy_steps: Sequence[DeployStep]) -> str:
    """Which of the deploy's steps was running when service first suffered: its migration
    (behind a long transaction, when the fault started one) or its reload."""
    impact = story.impact_ts or 0.0
    end = story.recovered_ts if story.recovered_ts is not None else impact + DEPLOY_EFFECT_S

    def overlap(step: DeployStep) -> float:
        return min(step.ts + DEPLOY_EFFECT_S, end) - max(step.started, impact)

    # The step that ran through most of the stall.
    step = max(deploy_steps, key=overlap, default=None)
    if step is not None and overlap(step) <= 0:
        step = None
    if step is not None and step.step == "migrate":
        blocker = story.first(Event.BLOCKER_STARTED)
        behind = "" if blocker is None else (
            f", waiting for its lock behind a long transaction (`{blocker.get('sql')}`)")
        return f"its migration held up every query for {step.duration_s:.1f}s{behind}"
    if step is not None and step.step != "reload":
        return f"its {step.step} step stalled service"
    return "its reload stalled service"


def advice_for(name: str, facts: dict[str, Any], scenario: Scenario) -> tuple[str, str]:
    """Cause and advice for a missed objective, from what the run saw; `facts["incident"]`
    is the run's `Incident`, whose cause leads where it explains the miss."""
    health = scenario.detectors.health
    advice = scenario.fault.advise(name)
    if advice is not None:
        # The fault's kind knows what helps against it (a rollback cannot undo a signal).
        return facts["incident"].cause or f"{name} missed its objective", advice
    if name == "time_to_detect_s":
        if facts["detect_s"] is None:
            cause = f"no detector raised an alarm within {scenario.phases.detect_timeout_s:g}s"
        else:
            cause = f"first alarm came from {facts['first_detector']} {facts['time_to_detect_s']}s after impact"
        if health is not None and health.interval_s * health.failures > (scenario.objectives.time_to_detect_s or 0):
            wanted = max(1.0, (scenario.objectives.time_to_detect_s or 1) / max(health.failures, 1) / 2)
            return cause, (f"the health poller checks every {health.interval_s:g}s; poll every {wanted:g}s "
                           "or alert on the request error rate")
        return cause, "alert on the request error rate over a short window (seconds, not minutes)"
    if name == "failed_requests":
        cause, advice = _failed_requests(facts, scenario)
        top = facts.get("app_error")
        if top is not None:
            detail, count = top
            cause += f"; the app logged \"{detail}\" for {count} of them"
            advice = next((text for known, text in KNOWN_APP_ERRORS.items() if known in detail), advice)
        return cause, advice
    return _other(name, facts, scenario)


def _failed_requests(facts: dict[str, Any], scenario: Scenario) -> tuple[str, str]:
    """Cause and advice for failed requests: by window, when a migration explains them."""
    windows = facts["by_window"]
    if windows["migrate_to_swap"] or windows["rollback_to_db_step"]:
        parts = []
        if windows["migrate_to_swap"]:
            parts.append(f"{windows['migrate_to_swap']} between the migration and the swap, while the old "
                         "code ran on the new schema")
        if windows["rollback_to_db_step"]:
            parts.append(f"{windows['rollback_to_db_step']} after the code rollback until the database step, "
                         "because the old code still needed what the migration removed")
        if windows["other"]:
            parts.append(f"{windows['other']} at other times")
        return ("a destructive migration: requests failed " + "; ".join(parts),
                "make migrations expand/contract in five steps: add the new shape, write both, backfill, "
                "read the new one, and drop the old only once no release reads it; then a code rollback "
                "is always safe")
    if facts["ungated"]:
        happened = facts["incident"].cause or "the release went live"
        return (f"{happened}, without a health check", "gate the release on its health check "
                "before the swap, so a failing release never takes traffic")
    return (facts["incident"].cause or "requests failed between the fault and recovery",
            "detect and roll back sooner; every second of detection costs requests")


def _other(name: str, facts: dict[str, Any], scenario: Scenario) -> tuple[str, str]:
    if name == "time_to_rollback_s":
        if facts["time_to_rollback_s"] is None and facts["rollback_started_s"] is not None:
            return (f"the rollback did not finish: {facts['incident'].cause or 'its command failed'}",
                    "a rollback must work when the host is in trouble: rehearse the command itself, "
                    "and keep a second way back (another path to the host, or a release switch)")
        return ("the rollback command took longer than the target",
                "keep the previous release warm and reload gracefully; avoid slow steps in rollback")
    if name == "time_to_recover_s":
        if facts["code_rollback_recovered"] is False:
            return ("code rollback alone did not recover: the schema change stayed",
                    "make every migration backward compatible with the previous release, "
                    "or ship a tested down migration")
        if facts["recovered_s"] is None:
            happened = facts["incident"].cause or "requests kept failing"
            return (f"no stable {scenario.phases.stable_s:g}s window within {scenario.phases.recover_timeout_s:g}s: "
                    f"{happened}", "find what kept failing in the timeline and the report's chart")
        return ("recovery took longer than the target", "detect sooner and roll back automatically on alarm")
    if name == "lost_jobs":
        lost = int(facts.get("lost_jobs") or 0)
        in_flight = facts.get("jobs_in_flight_lost")
        if in_flight is not None and lost > in_flight and facts.get("rolled_back"):
            never = lost - in_flight
            return (f"{never} of the {lost} lost jobs were never taken by any worker: enqueued while "
                    f"{facts.get('deployed_name') or 'the deployed release'} was live, they wait for a worker "
                    "that takes their kind or payload, and the live release's worker does not"
                    + (f"; {in_flight} more were started and never finished" if in_flight else ""),
                    "make the queue's payloads readable by the previous release (expand and contract for "
                    "jobs: ship the consumer before the producer), or drain the queue before rolling back")
        return ("jobs enqueued during the run never completed",
                "make jobs survive a worker kill: process in a transaction, ack after the effect")
    return ("target missed", "")
