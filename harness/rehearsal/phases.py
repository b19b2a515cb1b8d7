"""The phases of a rehearsal: baseline, detect, recover, verify, drain. Each one waits on
the watch and records what it decided in the timeline and the run's notes.

Every decision comes from what is live (the request stream, the probes, and the release
`current` points at), never from a deploy command's exit status alone: a deploy that
exits non-zero may have swapped, and one that exits zero may still be failing users.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.config.scenario import Scenario
from harness.deploy import Deployer, RunningCommand
from harness.environment import CommandResult, Environment, ProcessManager
from harness.errors import HarnessError
from harness.rehearsal.clock import Clock
from harness.rehearsal.faults.base import OUTPUT_LINES, Injection, Leftovers
from harness.rehearsal.load import check_host
from harness.rehearsal.watch import Stats, Watch
from harness.results.recovery import recovery_commands, search_start, steady_state_limit
from harness.results.timeline import Event, Timeline

DEPLOY_WAIT_S = 120.0
# The share of failed requests at the end of a run that hygiene reports as a leftover.
STILL_FAILING_RATE = 0.01
# How long an alarmed deploy that has not swapped yet may go on (its gate deciding) before
# it is interrupted.
PRE_SWAP_WAIT_S = 10.0
# How long service must hold before a code rollback counts as enough, when the scenario's
# code window is longer; the same rule as recovery, over a shorter window.
CODE_RECOVERY_CHECK_S = 2.0


class BaselineFailed(HarnessError):
    """The steady state did not hold before the fault; the run is aborted, not failed."""


@dataclass
class Notes:
    """What the phases decided, for the result."""

    actions: list[str] = field(default_factory=list)
    code_rollback_recovered: bool | None = None
    went_live: bool | None = None
    live_release: str | None = None


# How long the rollback's teardown waits for the process reading taken beside it.
PROCESSES_CHECK_S = 30.0

# How long a distributed load may take to send its first request: Locust's master waits
# up to 60 s for its workers (harness/rehearsal/load.py), then spawns the users.
DISTRIBUTED_START_S = 75.0


def baseline(watch: Watch, scenario: Scenario) -> None:
    watch.set_phase("baseline")
    if scenario.load.distributed:
        # Locust's master starts the users once every worker has joined (at most 60 s):
        # the baseline's window starts with the first request.
        watch.wait_for(lambda: watch.stats(DISTRIBUTED_START_S).total > 0, DISTRIBUTED_START_S)
    watch.sleep(scenario.phases.baseline_s)
    stats = watch.stats(scenario.phases.baseline_s)
    if stats.total == 0:
        raise BaselineFailed("baseline: no request completed; the load generator is not reaching the replica")
    limit = steady_state_limit(scenario)
    if stats.error_rate >= limit:
        raise BaselineFailed(f"baseline: {stats.error_rate:.1%} of requests failed before any fault "
                             f"(limit {limit:.0%}); the steady state does not hold")
    red = watch.red_probes()
    if red:
        raise BaselineFailed(f"baseline: a probe is red before any fault ({', '.join(red)})")


def detect(watch: Watch, scenario: Scenario, injection: Injection) -> None:
    """Wait for the first alarm, or the deploy's own failure, or the timeout.

    With `trigger = "after"` the recovery starts after a fixed time instead. A deploy that
    could not run at all raises `FaultFailed` from here.
    """
    watch.set_phase("detect")
    if scenario.recovery.trigger == "after":
        # A planned round trip: the release is live for after_s once its deploy has ended.
        assert scenario.recovery.after_s is not None
        def never() -> bool:
            injection.poll()  # a deploy that could not run ends the run as an error
            return False

        watch.wait_for(lambda: not injection.running(), DEPLOY_WAIT_S)
        watch.wait_for(never, scenario.recovery.after_s)
        return

    def noticed() -> bool:
        return bool(watch.alarms_since(injection.t0)) or injection.failed()

    if not watch.wait_for(noticed, scenario.phases.detect_timeout_s):
        watch.timeline.record(Event.DETECTION_TIMED_OUT, after_s=scenario.phases.detect_timeout_s)


def recover(
    watch: Watch, deployer: Deployer, scenario: Scenario, injection: Injection, notes: Notes, before: str | None,
    processes: ProcessManager | None = None,
) -> None:
    """Respond as an operator would: stop a deploy still running, see what is live, roll
    back code if the new release went live, and revert the schema when errors persist.

    With `processes`, the process manager's states are recorded (`processes_checked`)
    as the rollback starts and after it, so a program the manager gave up on is on record
    with what the rollback did about it. The first reading runs beside the rollback, never
    before it: nothing for the record delays the recovery command.
    """
    watch.set_phase("recover")

    def check_processes(when: str) -> None:
        if processes is not None:
            try:
                states = processes.states()
            except HarnessError as exc:
                watch.timeline.record(Event.PROCESSES_CHECKED, when=when, manager=processes.name, states={},
                                      detail=str(exc)[:300])
                return
            # The manager's own judgement goes on record, so results never learn its words.
            watch.timeline.record(Event.PROCESSES_CHECKED, when=when, manager=processes.name, states=states,
                                  down=sorted(p for p, state in states.items() if not processes.running(state)),
                                  gave_up=sorted(p for p, state in states.items() if processes.gave_up(state)),
                                  gave_up_for_good=sorted(p for p, state in states.items()
                                                          if processes.gave_up_for_good(state)))

    def beside(when: str) -> Callable[[], None]:
        """`check_processes(when)` on a thread of its own, started now; returns its join."""
        reading = threading.Thread(target=check_processes, args=(when,), name="processes-checked", daemon=True)
        reading.start()
        return lambda: reading.join(PROCESSES_CHECK_S)

    no_rollback = injection.fault.traits.no_rollback
    if no_rollback is not None:
        watch.timeline.record(Event.ROLLBACK_SKIPPED, reason=no_rollback)
        return
    alarmed = bool(watch.alarms_since(injection.t0))
    if scenario.recovery.trigger == "alarm" and not alarmed and not injection.failed():
        watch.wait_for(lambda: not injection.running(), DEPLOY_WAIT_S)
        watch.timeline.record(Event.ROLLBACK_SKIPPED, reason="nothing detected the fault, so nobody rolled back")
        return
    seen: list[str | None] = []
    if injection.running():
        # Before its swap the deploy's own gate still decides; once its release is live
        # there is something to roll back, so the deploy is interrupted at once.
        def live_or_ended() -> bool:
            seen.append(deployer.current())
            return seen[-1] != before or not injection.running()

        watch.wait_for(live_or_ended, PRE_SWAP_WAIT_S)
    if injection.stop() is None or not seen or seen[-1] == before:
        # Read what the deploy left. Once a release is live an interrupt cannot take it
        # back, so only that last reading may stand without a new one.
        seen.append(deployer.current())
    notes.live_release = seen[-1]
    notes.went_live = notes.live_release != before
    watch.timeline.record(Event.LIVE_CHECKED, current=notes.live_release, before=before, went_live=notes.went_live)
    if notes.went_live and scenario.recovery.method == "redeploy":
        # The start release deployed again, as a new release: no rollback command runs.
        run_recovery(watch, "redeploy", lambda: deploy_and_wait(watch, deployer, scenario.start_release), notes,
                     deployer.command_line(f"deploy {scenario.start_release}"))
        return
    if notes.went_live:
        with_db = scenario.recovery.db == "always"
        first_reading = beside("before the rollback")
        done, result = run_recovery(watch, "rollback", lambda: deployer.rollback(db=with_db), notes,
                                    deployer.command_line("rollback --db" if with_db else "rollback"), db=with_db,
                                    processes=processes)
        first_reading()
        check_processes("after the rollback")
        if not result.ok:
            live = deployer.current()
            if live != before:
                watch.timeline.record(Event.ROLLBACK_FAILED, current=live, detail=result.last_line())
            if scenario.recovery.fallback == "redeploy":
                # The manual fix: the known-good release deployed again, as a new release.
                run_recovery(watch, "redeploy", lambda: deploy_and_wait(watch, deployer, scenario.start_release),
                             notes, deployer.command_line(f"deploy {scenario.start_release}"), fallback=True)
                return
            if scenario.recovery.fallback == "restart" and processes is not None:
                # The manual fix: the rolled-back code is in place; start its programs afresh.
                programs = ["web"] + ([] if scenario.target.run.worker is None else ["worker"])
                run_recovery(watch, "restart", lambda: processes.restart(programs), notes,
                             processes.restart_command(programs), fallback=True, processes=processes)
                return
            if live != before:
                return
        if scenario.recovery.db != "if-needed":
            return
        if errors_stop(watch, scenario, done):
            notes.code_rollback_recovered = True
            return
        notes.code_rollback_recovered = False
        watch.timeline.record(Event.CODE_ROLLBACK_NOT_RECOVERED, window_s=scenario.recovery.code_window_s)
    else:
        watch.timeline.record(Event.ROLLBACK_SKIPPED, reason=f"the deploy did not go live: current is still {before}")
        if scenario.recovery.retry and injection.fault.release is not None:
            release, gate = injection.fault.release, injection.gate
            run_recovery(watch, "retry", lambda: deploy_and_wait(watch, deployer, release, gate=gate), notes,
                         deployer.command_line(f"deploy {release}"))
            return
        if scenario.recovery.db == "never" or errors_stop(watch, scenario, watch.clock.now()):
            return
        watch.timeline.record(Event.ERRORS_PERSIST, reason="requests still fail after the deploy ended, "
                              "with the old release live: the schema changed under it")
    run_recovery(watch, "db rollback", deployer.db_rollback, notes, deployer.command_line("db rollback"), db=True)


def deploy_and_wait(watch: Watch, deployer: Deployer, release: str, timeout_s: float = DEPLOY_WAIT_S,
                    started: Callable[[RunningCommand], object] | None = None, gate: bool = True) -> CommandResult:
    """Deploy `release` (gated unless `gate` is False) while the watch keeps polling
    (`started` sees the command first). A deploy still running after `timeout_s` is
    stopped once and ends as exit 124."""
    running = deployer.start_deploy(release, gate=gate)
    if started is not None:
        started(running)
    try:
        if not watch.wait_for(lambda: running.poll() is not None, timeout_s):
            running.stop()
    except BaseException:
        running.stop()  # the run is ending (load lost, an interrupt): no deploy outlives it
        raise
    found = running.poll()
    return found if found is not None else CommandResult(running.argv, 124, "", f"did not end in {timeout_s:g}s")


def errors_stop(watch: Watch, scenario: Scenario, since: float) -> bool:
    """Whether service holds for a short window within the scenario's code window."""
    window = scenario.recovery.code_window_s
    check = min(CODE_RECOVERY_CHECK_S, window)
    return watch.wait_for(lambda: watch.recovered_since(since, check) is not None, window)


def run_recovery(watch: Watch, action: str, command: Callable[[], CommandResult], notes: Notes,
                 shown: str, db: bool = False, fallback: bool = False,
                 processes: ProcessManager | None = None) -> tuple[float, CommandResult]:
    """Run one recovery command, timed by the rehearsal's clock; returns when it ended and
    its result. `db`: the command reverts the schema (the round-trip check follows it).
    `fallback`: it runs because the recovery command before it failed, and the way back is
    timed to its end. A failed command that `processes` says was its refusal to start a
    program carries the manager's own fix (`manager_advice`)."""
    extra: dict[str, Any] = {"fallback": True} if fallback else {}
    watch.timeline.record(Event.ROLLBACK_STARTED, action=action, command=shown, db=db, **extra)
    result = command()
    notes.actions.append(shown)
    advice = None if result.ok or processes is None else processes.refused(result.last_line())
    if advice is not None:
        extra["manager_advice"] = advice
    ended = watch.timeline.record(Event.ROLLBACK_FINISHED, action=action, command=shown, exit_status=result.exit_status,
                                  detail=result.last_line()[-300:], output=result.tail(OUTPUT_LINES), db=db, **extra)
    return float(ended["ts"]), result


def operate(
    watch: Watch,
    scenario: Scenario,
    environment: Environment,
    deployer: Deployer,
    injection: Injection,
    notes: Notes,
    before: str | None,
    tell: Callable[[str], None],
    operator_log: Callable[[], list[dict[str, Any]]],
    program: str = "gameday",
) -> None:
    """Operator mode: a person notices and rolls back; their first command is the detection.

    `operator_log` gives the person's commands against the replica (`ts` started, `ended`,
    `command`, `exit_status`), as the CLI notes them; their rollbacks are timed from those,
    by the same clock as gameday's own.
    """
    watch.set_phase("operator")
    db = " --db" if scenario.recovery.db == "always" else ""
    tell(f"The fault is in. When you notice it, roll back with:\n\n"
         f"    {program} rollback --run {environment.run_id}{db}\n"
         + ("" if scenario.recovery.db != "if-needed" else
            f"\nIf errors go on after it, revert the schema too:\n\n"
            f"    {program} rollback --run {environment.run_id} --db-only\n"))
    seen = 0
    check = min(CODE_RECOVERY_CHECK_S, scenario.phases.stable_s)

    def rolled_back() -> bool:
        nonlocal seen
        if injection.poll() is not None and notes.went_live is None:
            # What the deploy left live, read once it ended (before anyone rolled back).
            notes.live_release = deployer.current()
            notes.went_live = notes.live_release != before
            watch.timeline.record(Event.LIVE_CHECKED, current=notes.live_release, before=before,
                                  went_live=notes.went_live)
        entries = operator_log()
        for index in range(seen, len(entries)):
            entry = entries[index]
            if index == 0:
                watch.timeline.record(Event.ALARM_RAISED, ts=entry["ts"], detector="operator",
                                      detail=f"first command: gameday {entry['command']}", phase="operator")
            watch.timeline.record(Event.OPERATOR_COMMAND, ts=entry["ts"], command=entry["command"],
                                  exit_status=entry.get("exit_status"))
            if entry["command"].startswith("rollback") and entry.get("exit_status", 0) == 0:
                action = "db rollback" if "--db-only" in entry["command"] else "rollback"
                # As the deployer words it: with a team's tool, their own command ran.
                shown = deployer.command_line(action if action == "db rollback" else entry["command"])
                notes.actions.append(shown)
                db = action == "db rollback" or "--db" in entry["command"].split()
                watch.timeline.record(Event.ROLLBACK_STARTED, ts=entry["ts"], action=action,
                                      command=shown, by="operator", db=db)
                watch.timeline.record(Event.ROLLBACK_FINISHED, ts=entry.get("ended", entry["ts"]), action=action,
                                      command=shown, exit_status=0, by="operator", db=db)
        seen = len(entries)
        first = next((e["ts"] for e in entries if e["command"].startswith("rollback") and e.get("exit_status", 0) == 0),
                     None)
        return first is not None and watch.recovered_since(float(first), check) is not None

    watch.wait_for(rolled_back, scenario.phases.detect_timeout_s + scenario.phases.recover_timeout_s)


def verify(watch: Watch, scenario: Scenario, t0: float) -> None:
    """Wait until service has held for `stable_s` (the one rule `measure` uses), and has
    also held that long since the last recovery command ended, or time out.

    `recovered_ts` is the start of the first stable window after the incident began, or
    after the last failure a recovery command caused; it may precede the rollback when
    service came back by itself and the rollback broke nothing.
    """
    watch.set_phase("verify")
    start = search_start(t0, watch.impact_since(t0), watch.first_alarm_since(t0))
    acted = [float(e["ts"]) for e in watch.timeline.events if e["event"] == Event.ROLLBACK_FINISHED]
    commands = recovery_commands(watch.timeline.events, t0)
    settled = max(acted, default=t0)
    stable = scenario.phases.stable_s

    def held() -> bool:
        return (watch.recovered_since(start, stable, commands) is not None
                and watch.recovered_since(settled, stable) is not None)

    if watch.wait_for(held, scenario.phases.recover_timeout_s + stable):
        watch.timeline.record(Event.RECOVERY_VERIFIED, recovered_ts=watch.recovered_since(start, stable, commands))
    else:
        watch.timeline.record(Event.RECOVERY_TIMED_OUT, after_s=scenario.phases.recover_timeout_s)


def drain(environment: Environment, scenario: Scenario, since: float, timeline: Timeline,
          clock: Clock) -> dict[str, int] | None:
    """After the load stops, wait for the backlog to empty, then count the run's jobs."""
    queue = scenario.target.queue
    if queue is None:
        return None
    timeline.record(Event.PHASE_STARTED, phase="drain")
    sql = queue.jobs_sql.format(since=f"{since:.6f}")
    deadline = clock.now() + scenario.phases.drain_timeout_s
    while True:
        row = environment.sql(scenario.target.database, sql)[0]
        enqueued, completed, duplicated = (int(v or 0) for v in row)
        counts = {"enqueued": enqueued, "completed": completed, "lost": enqueued - completed,
                  "duplicated": duplicated}
        if counts["lost"] == 0 or clock.now() >= deadline:
            break
        clock.sleep(0.5)
    timeline.record(Event.JOBS_COUNTED, **counts)
    return counts


NO_LEFTOVERS = Leftovers()


def hygiene(environment: Environment, processes: ProcessManager, scenario: Scenario, timeline: Timeline,
            at_end: Stats | None = None, allow_remote: bool = False,
            transport: httpx.BaseTransport | None = None,
            database: tuple[list[str], Sequence[str]] = ([], ()),
            leftovers: Leftovers = NO_LEFTOVERS) -> dict[str, Any]:
    """After the run, before teardown: is every fault gone? Chaos tools often leave some.

    `at_end` is the request stream's last `stable_s` before the load stopped: a broken
    schema shows there even while `/health` is green. `database` is the findings and the
    checks of the database's own leftovers (`migrations.leftovers`); `leftovers` the fault
    kind's own (`FaultKind.leftovers`).
    """
    findings = environment.hygiene() + database[0] + list(leftovers.findings)
    if at_end is not None and at_end.failed and at_end.error_rate > STILL_FAILING_RATE:
        findings.append(f"requests were still failing when the load stopped: {at_end.failed} of {at_end.total} "
                        f"in the last {scenario.phases.stable_s:g}s")
    for program, state in processes.states().items():
        if not processes.running(state):
            findings.append(f"{processes.name} program {program} is {state}")
    switch = scenario.target.run.error_switch
    if switch and environment.read_file(switch).strip():
        findings.append(f"the error switch {switch} is still set")
    path = scenario.target.run.health_path
    try:
        with httpx.Client(base_url=check_host(environment.url, allow_remote), timeout=5, transport=transport) as http:
            resp = http.get(path)
        if resp.status_code != 200:
            findings.append(f"{path} answers {resp.status_code} (body: {resp.text.strip()[:200]!r})")
    except httpx.HTTPError as exc:
        findings.append(f"{path} does not answer: {type(exc).__name__}")
    checks = ["requests succeeding when the load stopped", *environment.hygiene_checks,
              *([f"{processes.name} programs running"] if processes.states_visible else []),
              *(["error switch cleared"] if switch else []), f"{path} healthy", *database[1], *leftovers.checks]
    timeline.record(Event.HYGIENE_CHECKED, clean=not findings, findings=findings,
                    unchecked=list(leftovers.unchecked))
    return {"clean": not findings, "findings": findings, "checks": checks}
