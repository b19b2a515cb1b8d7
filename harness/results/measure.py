"""The result: measured times, objectives and gaps, computed from what the run recorded.

`measure` is pure: the same records, timeline and deploy log give the same result.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.config.scenario import Scenario
from harness.results.causes import Story, advice_for
from harness.results.causes import incident as incident_of
from harness.results.deploylog import DeployStep
from harness.results.drain import drains
from harness.results.fingerprint import difference
from harness.results.lint import Outcome as LintOutcome
from harness.results.lint import prevention as lint_prevention
from harness.results.lint import release_of_gap
from harness.results.model import (
    SCHEMA,
    BadByWindow,
    Detection,
    Durations,
    EnvironmentFacts,
    Gap,
    Hygiene,
    Incident,
    Jobs,
    Lint,
    LoadLostFact,
    ObjectiveResult,
    Outcome,
    PlanResult,
    RecoveryDone,
    Releases,
    Requests,
    Result,
    RoundResult,
    Rung,
    SchemaCheck,
    Step,
    Times,
)
from harness.results.model import parse_ts as parse_ts
from harness.results.model import rfc3339 as rfc3339
from harness.results.records import Record
from harness.results.recovery import (
    recovered_at,
    recovery_commands,
    relapse_after,
    search_start,
    steady_state_limit,
)
from harness.results.rollout import first_failing_step, plan_result
from harness.results.rounds import rounds_of
from harness.results.timeline import Event


@dataclass(frozen=True)
class Observed:
    """Everything a run saw, as plain values, for `measure`."""

    run_id: str
    started_at: float
    finished_at: float
    t0: float | None
    timeline: Sequence[dict[str, Any]]
    deploy_log: Sequence[DeployStep]
    releases: dict[str, str | None]
    jobs: dict[str, int] | None
    actions: Sequence[str] = ()
    code_rollback_recovered: bool | None = None
    outcome: Outcome | None = None  # aborted or error when the run did not finish
    reason: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    hygiene: dict[str, Any] | None = None
    app_log: Sequence[dict[str, Any]] = ()  # the app's own JSON log (job events), read at the end
    lint: Lint | None = None  # the migrations the run applied, linted


# Requests that write: what a restore of the database from before the deploy would discard.
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def rel(ts: float | None, t0: float | None) -> float | None:
    return None if ts is None or t0 is None else round(ts - t0, 3)


def diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 3)


def first_rollback_span(deploy_log: Iterable[DeployStep], t0: float | None) -> tuple[float | None, float | None]:
    """Start and end of the first rollback command after t0: from its lock to its unlock.
    A rollback refused at its lock (another deploy held it) did nothing and is skipped."""
    started = done = None
    for entry in deploy_log:
        if t0 is None or entry.ts < t0 or entry.action != "rollback":
            continue
        if entry.step == "lock" and not entry.ok:
            continue
        if entry.step == "lock" and started is not None:
            break
        if started is None:
            started = entry.started
        done = entry.ts
    return started, done


def first_recovery_span(events: Iterable[dict[str, Any]], t0: float | None) -> tuple[float | None, float | None]:
    """Start and end of the first recovery command the rehearsal ran after t0, by its own
    clock; the end is None when the command failed, unless a fallback (`[recovery]
    fallback`) ran after it and succeeded: the way back then ends with the fallback."""
    if t0 is None:
        return None, None
    # A rerun of the fault's deploy (`retry`) goes forward: it is no way back to time.
    started = next((e for e in events if e["event"] == Event.ROLLBACK_STARTED and e["ts"] >= t0
                    and e.get("action") != "retry"), None)
    if started is None:
        return None, None
    done = next((e for e in events if e["event"] == Event.ROLLBACK_FINISHED and e["ts"] >= started["ts"]), None)
    # A rollback command that failed did not roll back: it has no end to time.
    if done is not None and done.get("exit_status", 0) != 0:
        fallback = next((e for e in events if e["event"] == Event.ROLLBACK_FINISHED and e.get("fallback")
                         and e["ts"] >= done["ts"]), None)
        done = fallback if fallback is not None and fallback.get("exit_status", 0) == 0 else None
    return float(started["ts"]), None if done is None else float(done["ts"])


def rollback_advice(failed: dict[str, Any]) -> str:
    """What to change when a recovery command failed (its `rollback_finished`): the process
    manager's own fix when it refused to start a program, as recorded then."""
    advice = failed.get("manager_advice")
    if advice:
        return str(advice)
    return "a rollback must work when the host is in trouble: rehearse the command itself, and keep a second way back"


def first_failed_recovery(events: Iterable[dict[str, Any]], t0: float | None) -> float | None:
    """When the first recovery command after t0 that failed ended (a rerun of the fault's
    deploy aside), by the rehearsal's clock; None when none failed."""
    if t0 is None:
        return None
    failed = next((e for e in events if e["event"] == Event.ROLLBACK_FINISHED and e["ts"] >= t0
                   and e.get("exit_status", 0) != 0 and e.get("action") != "retry"), None)
    return None if failed is None else float(failed["ts"])


def steps_of(deploy_log: Iterable[DeployStep], t0: float | None) -> tuple[Step, ...]:
    """The deploy log's steps that ended after t0, timed from t0."""
    return tuple(
        Step(name=entry.step, action=entry.action or None, started_s=rel(entry.started, t0),
             duration_s=entry.duration_s, ok=entry.ok, release=entry.release, detail=entry.detail)
        for entry in deploy_log if t0 is None or entry.ts >= t0
    )


def failures_by_window(after: Sequence[tuple[float, bool]], steps: Sequence[Step],
                       t0: float | None) -> dict[str, int]:
    """Bad requests after t0, split by what the deploy log says was running then:
    between the deploy's migrate and its swap (old code, new schema), between the code
    rollback's swap and the db step (old code, schema not yet reverted), and the rest."""
    def span(action: str, first: str, last: str) -> tuple[float, float] | None:
        a = next((s for s in steps if s.action == action and s.name == first), None)
        b = next((s for s in steps if s.action == action and s.name == last
                  and a is not None and (s.started_s or 0) >= (a.started_s or 0)), None)
        if a is None or b is None or t0 is None:
            return None
        return t0 + (a.started_s or 0), t0 + (b.started_s or 0) + (b.duration_s or 0)

    windows = {"migrate_to_swap": span("deploy", "migrate", "swap"),
               "rollback_to_db_step": span("rollback", "swap", "db")}
    counts = {name: 0 for name in windows} | {"other": 0}
    for ts, bad in after:
        if not bad:
            continue
        name = next((n for n, w in windows.items() if w is not None and w[0] <= ts <= w[1]), "other")
        counts[name] += 1
    return counts


def measure(scenario: Scenario, observed: Observed, records: Iterable[Record],
            matrix_records: Iterable[Record] = ()) -> Result:
    """The result of a run from what it observed and its request records (and, for a
    plan, the compatibility matrix's burst records).

    Objectives a run that stopped early could not measure have `met` None; a missed one
    is a gap with a cause and advice (`harness.results.causes`).
    """
    kept: list[Record] = []  # plans, rounds and drains judge the records again, by window
    t0 = observed.t0
    limit_ms = scenario.load.latency_limit_s * 1000
    total = failed = failed_after_t0 = 0
    baseline_total = baseline_bad = 0
    after: list[tuple[float, bool]] = []
    story_requests: list[tuple[float, bool, int, str]] = []
    impact_ts: float | None = None
    impact_end_ts: float | None = None
    deployed_serving_ts: float | None = None
    deployed = observed.releases.get("deployed")
    served_by_deployed = 0
    release_header = False  # whether the app names the release that answered (shop's X-Release)
    for record in records:
        kept.append(record)
        total += 1
        served_by_deployed += bool(deployed) and record.release == deployed
        release_header = release_header or bool(record.release)
        failed += record.failed
        bad = record.failed or record.latency_ms > limit_ms
        if t0 is None or record.ts < t0:
            baseline_total += 1
            baseline_bad += bad
            continue
        failed_after_t0 += record.failed
        after.append((record.ts, bad))
        story_requests.append((record.ts, bad, record.status, record.release))
        if deployed and record.release == deployed and (deployed_serving_ts is None or record.ts < deployed_serving_ts):
            deployed_serving_ts = record.ts
        if bad and (impact_ts is None or record.ts < impact_ts):
            impact_ts = record.ts
        if bad and (impact_end_ts is None or record.ts > impact_end_ts):
            impact_end_ts = record.ts
    after.sort()

    events = observed.timeline
    # The load generator stopped: no objective is judged on a window without traffic.
    lost = next((e for e in events if e["event"] in (Event.LOAD_LOST, Event.INSTRUMENT_LOST)), None)
    alarms = [e for e in events if e["event"] == Event.ALARM_RAISED and t0 is not None and e["ts"] >= t0]
    false_alarms = [e for e in events if e["event"] == Event.ALARM_RAISED and (t0 is None or e["ts"] < t0)]
    gate_aborts = [e.ts for e in observed.deploy_log
                   if e.action == "deploy" and e.step == "gate" and not e.ok and t0 is not None and e.ts >= t0]
    # In operator mode the person's first command is the detection; the detectors only advise.
    by_operator = [a for a in alarms if a.get("detector") == "operator"]
    detections = [(float(a["ts"]), str(a.get("detector"))) for a in (by_operator or alarms)]
    detections += [(ts, "deploy gate") for ts in gate_aborts]
    detect_ts, first_detector = min(detections) if detections else (None, None)

    rollback_started, rollback_done = first_recovery_span(events, t0)
    if rollback_started is None and scenario.plan is None:
        # An operator's own commands: the deployer's step log times them. (A plan's
        # rollbacks are its planned round trips, not a recovery.)
        rollback_started, rollback_done = first_rollback_span(observed.deploy_log, t0)

    incident = impact_ts is not None or bool(alarms)
    recovered_ts: float | None = None
    relapse_ts: float | None = None
    if incident and t0 is not None:
        probe_state: dict[str, bool] = {}
        probe_changes = []
        for e in events:
            if e["event"] == Event.PROBE_CHANGED and e.get("probe", True):
                if lost is not None and float(e["ts"]) > float(lost["at"]):
                    continue  # an instrument lost: its probes say nothing after it
                probe_state[str(e["detector"])] = bool(e["ok"])
                probe_changes.append((float(e["ts"]), all(probe_state.values())))
        probe_changes.sort()  # poller threads may record a change a moment out of order
        allowed = baseline_bad / baseline_total if baseline_total else 0.0
        # The same rule and the same start as the live verify phase (`phases.verify`).
        start = search_start(t0, impact_ts, min((float(a["ts"]) for a in alarms), default=None))
        end = after[-1][0] if after else observed.finished_at
        stable = scenario.phases.stable_s
        recovered_ts = recovered_at(after, probe_changes, start, end, stable, allowed)
        # A recovery command that broke service again restarts the clock. (A plan's
        # rollbacks are its planned round trips, a flag's rounds are measured each.)
        commands = [] if not scenario.fault.traits.single else recovery_commands(events, t0)
        limit = steady_state_limit(scenario)
        if recovered_ts is not None:
            relapse_ts = relapse_after(after, recovered_ts, commands, stable, limit)
        if relapse_ts is not None:
            recovered_ts = recovered_at(after, probe_changes, relapse_ts, end, stable, allowed, commands, limit)

    incident_start = impact_ts if impact_ts is not None else t0
    times = Times(
        impact_s=rel(impact_ts, t0),
        detect_s=rel(detect_ts, t0),
        rollback_started_s=rel(rollback_started, t0),
        rollback_done_s=rel(rollback_done, t0),
        recovered_s=rel(recovered_ts, t0),
        impact_end_s=rel(impact_end_ts, t0),
        deployed_serving_s=rel(deployed_serving_ts, t0),
        rollback_failed_s=rel(first_failed_recovery(events, t0), t0),
    )
    durations = Durations(
        time_to_detect_s=diff(detect_ts, incident_start),
        time_to_rollback_s=diff(rollback_done, rollback_started),
        time_to_recover_s=diff(recovered_ts, incident_start),
    )
    steps = steps_of(observed.deploy_log, t0)
    by_window = failures_by_window(after, steps, t0)
    later = [e for e in events if t0 is not None and e["ts"] >= t0]
    deployed_name = next((s.release for s in observed.deploy_log if s.release_dir == deployed and s.release), None)
    plan = None
    rounds: tuple[RoundResult, ...] = ()
    if scenario.fault.traits.rounds:
        rounds = rounds_of(events, kept, t0)
        if lost is not None and t0 is not None:
            # A round begun after the load was lost, or that saw no request, judges nothing.
            rounds = tuple(r for r in rounds if t0 + r.started_s < float(lost["at"]) and r.requests)
        what_happened = Incident(cause=flag_cause(events, rounds))
    elif scenario.plan is not None:
        plan = plan_result(events, kept, list(matrix_records), t0, scenario.start_release)
        failing = first_failing_step(plan)
        what_happened = Incident(cause=None if failing is None else (
            f"step {failing.index} ({failing.name}, release {failing.release}) failed {failing.failed} of "
            f"{failing.requests} requests while it deployed" + (f": {failing.failure}" if failing.failure else "")))
    else:
        what_happened = incident_of(
            # The fault's blocker starts just before t0: it is part of the story.
            Story([e for e in events if e["event"] == Event.BLOCKER_STARTED] + later,
                  [s for s in observed.deploy_log if t0 is not None and s.ts >= t0], story_requests,
                  recovered_ts, impact_ts, deployed, deployed_name or scenario.fault.release, relapse_ts),
            scenario.fault,
        )
    if what_happened.cause is not None and not scenario.fault.traits.deploys:
        # A fault that cut a worker mid-job: the app's own log names the jobs taken again.
        what_happened = dataclasses.replace(what_happened,
                                            cause=what_happened.cause + taken_again_clause(observed.app_log))
    facts = {
        "incident": what_happened,
        **times.to_json(), **durations.to_json(), "first_detector": first_detector, "by_window": by_window,
        "code_rollback_recovered": None if lost is not None else observed.code_rollback_recovered,
        # As the deploy ran: a team's tool with no gate is ungated whatever the scenario asked.
        "ungated": scenario.fault.traits.deploys and not next(
            (bool(e.get("gate")) for e in later if e["event"] == Event.FAULT_INJECTED), True),
    }
    jobs = None if observed.jobs is None else Jobs.from_json(observed.jobs)
    facts["jobs_in_flight_lost"] = jobs_in_flight_lost(observed.app_log)
    facts["app_error"] = top_app_error(observed.app_log, t0)
    facts["rolled_back"] = any(e["event"] == Event.ROLLBACK_FINISHED for e in later)
    facts["deployed_name"] = deployed_name or scenario.fault.release
    facts["lost_jobs"] = jobs.lost if jobs else None
    measured: dict[str, float | None] = {
        **durations.to_json(),
        "failed_requests": float(failed_after_t0),
        "lost_jobs": float(jobs.lost) if jobs else None,
    }
    objectives, gaps = [], []
    finished = observed.outcome is None
    not_applicable = set() if scenario.target.queue is not None else {"lost_jobs"}
    for name, objective in scenario.objectives.items():
        value = measured.get(name)
        met: bool | None
        if lost is not None or not finished:
            met = None  # a run that could not happen, or stopped early, judges nothing
        elif value is not None:
            met = value <= objective
        elif name in not_applicable:
            met = None  # the target has no such part (no queue): null, and not judged
        else:
            met = not incident and name != "lost_jobs"
        objectives.append(ObjectiveResult(name, objective, value, met))
        if met is False:
            cause, advice = advice_for(name, facts, scenario)
            gaps.append(Gap(name, objective, value, cause, advice))
    if false_alarms:
        first_false = false_alarms[0]
        gaps.append(Gap("false_alarms", 0, len(false_alarms),
                        f"{first_false.get('detector')} fired before the fault: {first_false.get('detail')}",
                        "raise the detector's threshold or window until the steady state is quiet"))

    failed_recoveries = [e for e in later if e["event"] == Event.ROLLBACK_FINISHED and e.get("exit_status", 0) != 0
                         and e.get("action") != "retry"]
    if failed_recoveries:
        # A recovery command that failed is a gap whatever the objectives: the team's way
        # back did not work when it was needed.
        first_failed = failed_recoveries[0]
        fallback = next((e for e in later if e["event"] == Event.ROLLBACK_FINISHED and e.get("fallback")), None)
        # Left live by the failed command; a fallback may have replaced it since.
        recovered_by_fallback = fallback is not None and fallback.get("exit_status", 0) == 0
        still_live = not recovered_by_fallback and (
            any(e["event"] == Event.ROLLBACK_FAILED for e in later)
            or observed.releases.get("after") not in (None, observed.releases.get("before")))
        stuck_schema = ""
        if first_failed.get("db"):
            writes = sum(1 for r in kept if t0 is not None and r.ts >= t0 and not r.failed
                         and r.name.split(" ", 1)[0] in WRITE_METHODS)
            stuck_schema = ("; the schema could not be reverted, so the way back is forward (a fixed release) "
                            "or restoring the database from before the deploy, which would discard the "
                            f"{writes} writes users made since (successful {'/'.join(WRITE_METHODS)} requests)")
        gaps.append(Gap("rollback_failed", 0, len(failed_recoveries),
                        f"`{first_failed.get('command')}` exited {first_failed.get('exit_status')}: "
                        f"{first_failed.get('detail') or 'no output'}"
                        + ("; the deployed release stayed live" if still_live else "") + stuck_schema
                        + ("" if fallback is None else
                           f"; then `{fallback.get('command')}` ran as the fallback and "
                           + ("succeeded" if fallback.get("exit_status", 0) == 0
                              else f"exited {fallback.get('exit_status')}")),
                        rollback_advice(first_failed)))
    if plan is not None:
        gaps.extend(plan_gaps(plan))
    gaps.extend(round_gaps(rounds))
    hygiene = None if observed.hygiene is None else Hygiene.from_json(observed.hygiene)
    if hygiene is not None and not hygiene.clean:
        gaps.append(Gap("hygiene", 0, len(hygiene.findings),
                        "the run left a fault behind: " + "; ".join(hygiene.findings),
                        scenario.fault.advise("hygiene")
                        or "make the fault's undo part of the runbook, and check for it after every rollback"))
    gaps.extend(stale_worker_gaps(observed, later))
    gaps.extend(stale_serving_gaps(observed, kept, t0))
    checks = schema_checks(events, t0)
    gaps.extend(round_trip_gaps(checks))
    gaps = classified(gaps, observed, scenario, kept, t0)
    if not finished:
        stop = stopped_by(observed)
        gaps = [dataclasses.replace(gap, found_after=stop) for gap in gaps]
    outcome = observed.outcome or (Outcome.MET if not gaps else Outcome.GAPS)
    return Result(
        schema=SCHEMA,
        run_id=observed.run_id,
        scenario=scenario.name,
        description=scenario.description,
        target=scenario.target.name,
        outcome=outcome,
        reason=observed.reason,
        started_at=rfc3339(observed.started_at),
        finished_at=rfc3339(observed.finished_at),
        t0=rfc3339(t0) if t0 is not None else None,
        releases=Releases.from_json(observed.releases),
        times=times,
        durations=durations,
        requests=Requests(
            total=total, failed=failed, failed_in_incident=failed_after_t0,
            served_by_deployed=served_by_deployed if deployed and release_header else None,
            baseline_error_rate=round(baseline_bad / baseline_total, 4) if baseline_total else None,
            bad_by_window=BadByWindow(**by_window),
        ),
        jobs=jobs,
        recovery=RecoveryDone(tuple(observed.actions),
                              None if lost is not None else observed.code_rollback_recovered),
        detection=Detection(first_detector, len(alarms), len(false_alarms),
                            ladder(scenario, alarms, t0, incident_start)),
        objectives=tuple(objectives),
        gaps=tuple(gaps),
        steps=steps,
        hygiene=hygiene,
        environment=EnvironmentFacts.from_json(observed.environment),
        incident=what_happened,
        plan=plan,
        rounds=rounds,
        drains=drains(observed.deploy_log, kept, t0, scenario.target.run.graceful_timeout_s, observed.app_log),
        lint=observed.lint,
        schema_checks=checks,
        load_lost=None if lost is None or lost["event"] != Event.LOAD_LOST
        else LoadLostFact(rel(float(lost["at"]), t0), str(lost.get("cause", ""))),
    )


def stopped_by(observed: Observed) -> str:
    """What ended a run that did not finish, as a gap found after it names it."""
    if any(e["event"] == Event.RUN_INTERRUPTED for e in observed.timeline):
        return "gameday's own interrupt"
    if observed.outcome == Outcome.ABORTED:
        return f"the run was aborted ({observed.reason or 'no reason recorded'})"
    return f"the run's error ({observed.reason or 'no reason recorded'})"


def top_app_error(app_log: Sequence[dict[str, Any]], t0: float | None) -> tuple[str, int] | None:
    """The app's most frequent failed-request message after t0 and how often it came, from
    its `request_failed` log lines (`detail`, else `error`); None when it logged none."""
    if t0 is None:
        return None
    found = Counter(str(e.get("detail") or e.get("error")) for e in app_log
                    if e.get("event") == "request_failed" and isinstance(e.get("ts"), int | float)
                    and float(e["ts"]) >= t0 and (e.get("detail") or e.get("error")))
    if not found:
        return None
    detail, count = found.most_common(1)[0]
    return detail.splitlines()[0][:200], count


def jobs_taken_again(app_log: Sequence[dict[str, Any]]) -> list[tuple[Any, str, str]]:
    """Jobs one worker started and another finished (the app log's `job_started` and
    `job_done`, by their `worker`): cut mid-job and taken again. (job, first starter,
    finisher), in the order they finished."""
    first: dict[Any, str] = {}
    found = []
    for entry in app_log:
        job, worker = entry.get("job"), str(entry.get("worker", ""))
        if entry.get("event") == "job_started":
            first.setdefault(job, worker)
        elif entry.get("event") == "job_done" and job in first and first[job] != worker:
            found.append((job, first[job], worker))
    return found


def taken_again_clause(app_log: Sequence[dict[str, Any]]) -> str:
    """The jobs cut mid-job and taken again, as a clause for a cause; empty when none."""
    again = jobs_taken_again(app_log)
    if not again:
        return ""
    job, started, done = again[0]
    return (f"; the app's log shows {len(again)} job{'s' if len(again) > 1 else ''} started by one worker and "
            f"finished by another (job {job}: started by {started}, finished by {done})")


def jobs_in_flight_lost(app_log: Sequence[dict[str, Any]]) -> int | None:
    """Jobs a worker started and no worker finished (the app log's `job_started` and
    `job_done`); None without job events."""
    started = {e.get("job") for e in app_log if e.get("event") == "job_started"}
    done = {e.get("job") for e in app_log if e.get("event") == "job_done"}
    return len(started - done) if started or done else None


# A reload takes well under a second; answers from the old release this long after the
# swap mean the app server is not following `current`.
STALE_SERVING_S = 5.0


def stale_serving_gaps(observed: Observed, records: Sequence[Record], t0: float | None) -> list[Gap]:
    """The realpath trap: after the fault's swap, the previous release went on answering
    (by the release header) more than STALE_SERVING_S later, until the next swap. Measured:
    seconds from the swap until the deployed release answered, or until the next swap
    when it never did. Needs a release header and the deploy log's swap steps."""
    before, deployed = observed.releases.get("before"), observed.releases.get("deployed")
    swaps = sorted((s.ts, s.action == "deploy" and s.release_dir == deployed) for s in observed.deploy_log
                   if t0 is not None and s.ts >= t0 and s.step == "swap" and s.ok)
    # The deploy's own swap to the deployed release, and the next swap of any kind.
    into = next((i for i, (_, to_deployed) in enumerate(swaps) if to_deployed), None)
    if not before or not deployed or into is None:
        return []
    swap = swaps[into][0]
    until = swaps[into + 1][0] if into + 1 < len(swaps) else float("inf")
    window = [r for r in records if swap <= r.ts < until and not r.failed]
    stale = [r for r in window if r.release == before and r.ts >= swap + STALE_SERVING_S]
    if not stale:
        return []
    first_new = next((r.ts for r in window if r.release == deployed), None)
    lag = (first_new if first_new is not None else min(until, window[-1].ts)) - swap
    never = "never answered before the next swap" if first_new is None else f"first answered after {lag:.1f}s"
    return [Gap("served_release_lag", STALE_SERVING_S, round(lag, 3),
                f"after the swap to {deployed}, {before} went on answering ({len(stale)} requests more than "
                f"{STALE_SERVING_S:g}s later) and {deployed} {never}: the app server reloads from the directory "
                "it started in, not from `current` (the realpath trap)",
                "start the app server through the symlink (gunicorn --chdir /srv/app/current), not the resolved "
                "release path, so a graceful reload loads what `current` points to; or restart it on deploy")]


def stale_worker_gaps(observed: Observed, later: Sequence[dict[str, Any]]) -> list[Gap]:
    """Jobs a worker of a release other than the live one finished after the last recovery
    command: a worker that outlived its restart (the app log's `job_done`, with `release`)."""
    live = observed.releases.get("after")
    ended = [float(e["ts"]) for e in later if e["event"] == Event.ROLLBACK_FINISHED]
    if live is None or not ended:
        return []
    stale: dict[str, int] = {}
    for e in observed.app_log:
        if (e.get("event") == "job_done" and isinstance(e.get("release"), str) and e["release"] != live
                and isinstance(e.get("ts"), int | float) and e["ts"] > max(ended)):
            stale[e["release"]] = stale.get(e["release"], 0) + 1
    if not stale:
        return []
    counts = ", ".join(f"{n} by {release}" for release, n in sorted(stale.items()))
    return [Gap("stale_release_jobs", 0, sum(stale.values()),
                f"after the last recovery command, jobs were still processed by a release that is not live "
                f"({counts}): its worker outlived the restart",
                "start the worker so that the process manager's signal reaches it (exec in a wrapper "
                "script, or stopasgroup/killasgroup), and check for survivors after every deploy")]


# The fingerprints compared with the one before the fault (`when`), and what each follows.
ROUND_TRIP_POINTS = {"after db rollback": "db rollback", "after redeploy": "redeploy"}


def schema_checks(events: Sequence[dict[str, Any]], t0: float | None) -> tuple[SchemaCheck, ...]:
    """The clean-round-trip check: each fingerprint taken after a database rollback, or
    after a redeploy of the start release, against the one taken before the fault
    (`schema_fingerprinted` events)."""
    fingerprints = [e for e in events if e["event"] == Event.SCHEMA_FINGERPRINTED]
    first = next((e for e in fingerprints if e.get("when") == "before"), None)
    if first is None:
        return ()
    before = first.get("statements")
    found = []
    for e in fingerprints:
        if e.get("when") not in ROUND_TRIP_POINTS:
            continue
        at = rel(e.get("rollback_ts", e["ts"]), t0)
        after = e.get("statements")
        if before is None or after is None:
            failed = first if before is None else e
            found.append(SchemaCheck(at, (), (), f"pg_dump failed {failed.get('when')}: {failed.get('detail', '')}",
                                     ROUND_TRIP_POINTS[e["when"]]))
            continue
        leftover, missing = difference(before, after)
        found.append(SchemaCheck(at, tuple(leftover), tuple(missing), after=ROUND_TRIP_POINTS[e["when"]]))
    return tuple(found)


def round_trip_gaps(checks: Sequence[SchemaCheck]) -> list[Gap]:
    """A database rollback that did not bring the schema back is a gap naming the objects."""
    gaps = []
    for check in checks:
        if check.clean is not False:
            continue
        parts = ([f"left behind: {', '.join(check.leftover)}"] if check.leftover else []) + (
            [f"gone: {', '.join(check.missing)}"] if check.missing else [])
        at = "" if check.after_s is None else f" at {check.after_s:.1f}s"
        if check.after == "redeploy":
            gaps.append(Gap("schema_round_trip", 0, len(check.leftover) + len(check.missing),
                            f"after the redeploy{at} the schema is not what it was before the fault (a redeploy "
                            "only migrates up): " + "; ".join(parts),
                            "go back with a rollback that reverts the schema too (a down migration), or make the "
                            "release's migrations expand-only so the old code runs on the newer schema"))
            continue
        gaps.append(Gap("schema_round_trip", 0, len(check.leftover) + len(check.missing),
                        f"after the database rollback{at} the schema is not what it was before the fault: "
                        + "; ".join(parts),
                        "make every down migration undo all that its up created (columns, indexes, types, "
                        "constraints), and rehearse the round trip with a schema diff before you need it"))
    return gaps


# Gaps no migration causes: a detector that fired before the fault, a leftover process or
# setting, a worker that outlived its restart. Lint cannot prevent them.
NOT_FROM_THE_SCHEMA = frozenset({"false_alarms", "hygiene", "stale_release_jobs"})


def classified(gaps: Sequence[Gap], observed: Observed, scenario: Scenario, records: Sequence[Record],
               t0: float | None) -> list[Gap]:
    """Each gap marked preventable before deploy (naming the lint rules) or needing
    runtime detection (`harness.results.lint.prevention`); unmarked without a lint."""
    if observed.lint is None:
        return list(gaps)
    # The fault's own deploy: its migrate step, not a rollback's or a later redeploy's.
    migrate = next((s for s in observed.deploy_log if t0 is not None and s.ts >= t0
                    and s.action == "deploy" and s.step == "migrate"), None)
    limit_ms = scenario.load.latency_limit_s * 1000
    stalled = migrate is not None and any(
        migrate.started <= r.ts <= migrate.ts and (r.latency_ms > limit_ms or r.status == 504) for r in records)
    outcome = LintOutcome(stalled=stalled, migrate_failed=migrate is not None and not migrate.ok)
    steps = [step.release for step in scenario.plan.steps] if scenario.plan is not None else []
    marked = []
    for gap in gaps:
        release = release_of_gap(gap.name, scenario.fault.release, steps)
        prevention, rules = lint_prevention(release, observed.lint.findings, outcome,
                                            from_deploy=gap.name not in NOT_FROM_THE_SCHEMA)
        marked.append(dataclasses.replace(gap, prevention=prevention, rules=rules))
    return marked


def ladder(scenario: Scenario, alarms: Sequence[dict[str, Any]], t0: float | None,
           incident_start: float | None) -> tuple[Rung, ...]:
    """Every detector the scenario set (and any other that alarmed after t0), ranked by
    its first alarm after t0; one that never fired is listed last, with None."""
    firsts: dict[str, dict[str, Any]] = {}
    for alarm in sorted(alarms, key=lambda a: float(a["ts"])):
        firsts.setdefault(str(alarm.get("detector")), alarm)
    names = list(dict.fromkeys([*scenario.detectors.names(), *firsts]))
    rungs = [Rung(name, None, None, "") if name not in firsts else
             Rung(name, rel(float(firsts[name]["ts"]), t0), diff(float(firsts[name]["ts"]), incident_start),
                  str(firsts[name].get("detail", "")))
             for name in names]
    return tuple(sorted(rungs, key=lambda r: (r.detect_s is None, r.detect_s or 0.0)))


def flag_cause(events: Sequence[dict[str, Any]], rounds: Sequence[RoundResult]) -> str | None:
    """What the flag did, over every round, in one sentence; the flag is the one the
    rounds' `round_started` events name."""
    flag = next((e.get("flag") for e in events if e["event"] == Event.ROUND_STARTED), None)
    if not rounds or flag is None:
        return None
    failed = sum(r.failed for r in rounds)
    shares = ", ".join(dict.fromkeys(f"{r.percent}%" for r in rounds))
    how = " and ".join(dict.fromkeys("flipping it off" if r.mitigation == "flag-off" else "rolling the release back"
                                      for r in rounds))
    return (f"the flag {flag} turned on a broken code path for {shares} of users: {failed} requests "
            f"failed over {len(rounds)} rounds, each ended by {how}")


def round_gaps(rounds: Sequence[RoundResult]) -> list[Gap]:
    """A round nobody detected, or that service did not recover from, is a gap."""
    gaps = []
    for r in rounds:
        if r.detect_s is None:
            gaps.append(Gap(f"round_{r.index}_not_detected", 0, r.failed,
                            f"round {r.index} ({r.percent}% of users, {r.mitigation}): no detector fired while "
                            f"{r.failed} of {r.requests} requests failed",
                            "make the error-rate alert sensitive enough for a partial rollout: a flag on for "
                            "a few users fails a few percent of requests"))
        elif r.recovered_s is None:
            gaps.append(Gap(f"round_{r.index}_not_recovered", 0, r.failed,
                            f"round {r.index} ({r.percent}% of users): service did not hold after {r.mitigation}",
                            "check that the mitigation really removes the broken path"))
    return gaps


def plan_gaps(plan: PlanResult) -> list[Gap]:
    """A plan's own gaps: each step whose deploy failed requests, and each step that was
    not safe to roll back."""
    gaps = []
    for step in plan.steps:
        if step.failed or step.deploy_exit_status not in (0, None):
            gaps.append(Gap(f"step_{step.index}_failed_requests", 0, step.failed,
                            f"step {step.index} ({step.name}, release {step.release}) failed {step.failed} of "
                            f"{step.requests} requests while it deployed"
                            + (f" (its deploy exited {step.deploy_exit_status})"
                               if step.deploy_exit_status not in (0, None) else "")
                            + (f": {step.failure}" if step.failure else "")
                            + ("; requests were already failing when it began: the step before left them "
                               "failing" if step.failing_before else ""),
                            "each step must be safe while the previous release still serves: check the "
                            "compatibility matrix, and never contract before no live release uses the old shape"))
        if step.rollback_safe is False:
            gaps.append(Gap(f"step_{step.index}_rollback_unsafe", 0, step.rollback_failed or 0,
                            f"rolling back step {step.index} ({step.name}) is not safe: "
                            f"{step.why.removeprefix('no: ')}",
                            "a step is only safe to ship when the release before it still runs on the schema "
                            "it leaves; split the step until it is"))
    return gaps
