"""The `process` kind: a signal to one of the app's processes, mid-run.

`program` is `web` (the app server's main process: gunicorn's master), `worker`, or
`database`. The signal goes through the process manager for the app's programs, so it
reaches the process the manager started (its main pid), as `kill` from an operator's
shell would. The database takes `STOP` only: its processes are frozen for `hold_s`
seconds, then continued, as a host that stalls (a VM paused, swap storms) does.

A second signal may follow (`then`, `then_after_s` later): USR2 then TERM is gunicorn's
binary upgrade, which under a supervisor that restarts its program leaves an orphaned
second master behind. The kind's leftovers check finds such an orphan: a process running
the program's own command line that the manager did not start, with no such parent.

No release changes, so a rollback cannot undo a signal: the phases record
`rollback_skipped`, and the run is judged on what users saw, the jobs, and the hygiene.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from harness.config.faultspec import FaultTraits
from harness.config.scenario import Scenario
from harness.config.tables import Table
from harness.config.target import Target
from harness.environment import CommandResult, Environment, ProcessManager
from harness.errors import HarnessError
from harness.rehearsal.faults.base import Context, FaultFailed, Injection, Leftovers, OneIncident
from harness.results.timeline import Event

PROGRAMS = ("web", "worker", "database")
SIGNALS = ("KILL", "TERM", "INT", "QUIT", "HUP", "USR1", "USR2", "STOP")
MAX_HOLD_S = 600.0
# The orphan check lists the web host's processes, one line each: pid, parent pid, command
# line, from /proc (a slim host may have no `ps`).
PROCESS_LIST = ["sh", "-c", 'for d in /proc/[0-9]*; do '
                'args=$(tr "\\0" " " < "$d/cmdline" 2>/dev/null); [ -n "$args" ] || continue; '
                'ppid=$(sed -n "s/^PPid:[[:space:]]*//p" "$d/status" 2>/dev/null); '
                'echo "${d#/proc/} $ppid $args"; done']


@dataclass(frozen=True)
class ProcessFault:
    """`kind = "process"`: `signal` sent to `program`; for `STOP`, continued `hold_s`
    seconds later; else, optionally, `then` sent `then_after_s` seconds later."""

    program: str
    signal: str
    hold_s: float | None = None
    then: str | None = None
    then_after_s: float = 0.0
    kind: str = "process"
    release: None = None
    traits: FaultTraits = FaultTraits(
        no_rollback="the fault is a signal to a running process, not a release",
        needs_shell=("fault.program", "signals go through the process manager there"))

    def explain(self, events: Sequence[Mapping[str, Any]], impact_seen: bool) -> str | None:
        """What gameday did and what the host showed after it, from the fault's own events."""
        sent = next((e for e in events if e.get("event") == Event.FAULT_INJECTED and e.get("kind") == self.kind), None)
        if sent is None:
            return None
        parts = [_sent(sent)]
        followed = [e for e in events if e.get("event") == Event.FAULT_SIGNALLED]
        parts += [f"{_sent(e)} {float(e['ts']) - float(sent['ts']):.1f}s later" for e in followed]
        removed = next((e for e in events if e.get("event") == Event.FAULT_REMOVED and e.get("kind") == self.kind),
                       None)
        if removed is not None and removed.get("pid") is not None and self.program != "database":
            again = removed.get("pid") != sent.get("pid")
            parts.append(f"afterwards {self.program} was {removed.get('state')} as pid {removed['pid']}"
                         + (" (a new process)" if again else " (the same process)"))
        elif removed is not None and removed.get("state") is not None:
            parts.append(f"afterwards {self.program} was {removed['state']}")
        return "; ".join(parts)

    def advise(self, objective: str) -> str | None:
        """A rollback cannot undo a signal: what shortens or prevents the harm instead."""
        if objective == "hygiene" and self.program != "database":
            return (f"a process its manager did not start is never restarted, reloaded or stopped by it: send "
                    f"a binary upgrade (USR2) only where the manager follows the new master, or restart the "
                    f"{self.program} through the manager instead; then stop the orphan by its pid")
        if objective == "lost_jobs":
            return ("make jobs survive a killed worker: take each in one transaction and mark it done only "
                    "after its effect, so a cut job is taken again")
        if self.program == "database":
            return ("a stopped database is back only when its processes continue, and no rollback shortens "
                    "that: alert on the database apart from the app, and give the app's queries a statement "
                    "and connect timeout so requests fail fast instead of hanging")
        return (f"keep the {self.program} restarted at once by its process manager, and signal only the "
                "process the manager started; a second copy it did not start is never restarted or stopped")


def _sent(event: Mapping[str, Any]) -> str:
    pid = event.get("pid")
    whom = f"{event.get('program')}'s main process" + ("" if pid is None else f" (pid {pid})")
    if event.get("program") == "database":
        whom = "the database's processes"
    via = f" through {event['via']}" if event.get("via") else ""
    return f"gameday sent SIG{event.get('signal')} to {whom}{via}"


def parse(t: Table, target: Target) -> ProcessFault:
    program = t.choice("program", PROGRAMS, None)
    if program is None:
        raise t.error("program", f"is required: one of {', '.join(PROGRAMS)}")
    if program == "worker" and target.run.worker is None:
        raise t.error("program", f'"worker": target {target.name} runs no worker (run.worker)')
    signal = t.choice("signal", SIGNALS, None)
    if signal is None:
        raise t.error("signal", f"is required: one of {', '.join(SIGNALS)}")
    if program == "database" and signal != "STOP":
        raise t.error("signal", 'the database takes "STOP" only: its processes are frozen for hold_s seconds')
    hold = t.number("hold_s", None, positive=True, maximum=MAX_HOLD_S)
    if signal == "STOP" and hold is None:
        raise t.error("hold_s", 'is required with signal = "STOP": how long the process stays stopped')
    if signal != "STOP" and hold is not None:
        raise t.error("hold_s", 'is for signal = "STOP"; use then and then_after_s for a second signal')
    then = t.choice("then", tuple(s for s in SIGNALS if s != "STOP"), None)
    if then is not None and signal == "STOP":
        raise t.error("then", 'a stopped process is continued after hold_s; "then" is for other signals')
    after = float(t.number("then_after_s", 1.0 if then else None, positive=True, maximum=MAX_HOLD_S) or 0.0)
    if then is None and t.has("then_after_s"):
        raise t.error("then_after_s", "is how long before the second signal: set then")
    return ProcessFault(program, signal, None if hold is None else float(hold), then, after)


class Sender:
    """Sends the fault's signals: the first, then the follow-up once (CONT, or `then`)."""

    def __init__(self, context: Context, fault: ProcessFault) -> None:
        self.context, self.fault = context, fault
        self.processes, self.environment = context.processes, context.environment
        self.followed = False

    def pid(self) -> int | None:
        if self.fault.program == "database":
            return None
        try:
            return self.processes.main_pid(self.fault.program)
        except HarnessError:
            return None

    def send(self, signal: str) -> CommandResult:
        if self.fault.program == "database":
            try:
                self.environment.pause_database(signal == "STOP")
            except HarnessError as exc:
                return CommandResult(("pause-database",), 1, "", str(exc))
            return CommandResult(("pause-database",), 0, "", "")
        return self.processes.signal(self.fault.program, signal)

    def via(self) -> str | None:
        return None if self.fault.program == "database" else self.processes.name

    def follow(self, signal: str) -> None:
        """The follow-up signal, once: when it is due (the watch runs it), or on the way out."""
        if self.followed:
            return
        self.followed = True
        pid = self.pid()
        sent = self.context.clock.now()
        result = self.send(signal)
        self.context.timeline.record(Event.FAULT_SIGNALLED, ts=sent, kind=self.fault.kind, program=self.fault.program,
                                     signal=signal, pid=pid, via=self.via(), exit_status=result.exit_status,
                                     detail=result.last_line()[-300:])


@contextmanager
def injected(context: Context, fault: ProcessFault) -> Iterator[Injection]:
    sender = Sender(context, fault)
    pid = sender.pid()
    started = context.clock.now()
    result = sender.send(fault.signal)
    # t0 is the recorded time (rounded as the timeline keeps it), so its own event is in the story.
    t0 = float(context.timeline.record(Event.FAULT_INJECTED, ts=started, kind=fault.kind, program=fault.program,
                                       signal=fault.signal, pid=pid, via=sender.via(),
                                       exit_status=result.exit_status)["ts"])
    if not result.ok:
        if fault.signal == "STOP":
            sender.send("CONT")
        raise FaultFailed(f"SIG{fault.signal} could not be sent to {fault.program}: {result.last_line()}")
    if fault.hold_s is not None:
        context.watch.schedule(t0 + fault.hold_s, lambda: sender.follow("CONT"))
    elif fault.then is not None:
        then = fault.then
        context.watch.schedule(t0 + fault.then_after_s, lambda: sender.follow(then))
    try:
        yield Injection(fault, t0, context.timeline)
    finally:
        if fault.signal == "STOP":
            sender.follow("CONT")  # a stopped process is never left stopped
        sender.followed = True  # a `then` not yet sent is not sent once the rehearsal is over
        state = None
        try:
            if fault.program != "database":
                state = context.processes.states().get(fault.program)
        except HarnessError:
            pass
        context.timeline.record(Event.FAULT_REMOVED, kind=fault.kind, program=fault.program, pid=sender.pid(),
                                state=state)


def orphans(listing: str, main_pid: int | None) -> list[tuple[int, str]]:
    """Processes running the main process's own command line that are neither it nor one
    of its descendants, and whose parent runs another command line: the roots of a second
    copy of the program (pid, command line), from lines of "pid ppid command line"
    (`PROCESS_LIST`). Command lines are compared without their first word, the
    interpreter, which a re-exec may spell differently."""
    rows: dict[int, tuple[int, str]] = {}
    for line in listing.splitlines():
        words = line.split(None, 2)
        if len(words) == 3 and words[0].isdigit() and words[1].isdigit():
            rows[int(words[0])] = (int(words[1]), words[2].strip())
    if main_pid is None or main_pid not in rows:
        return []

    def same(args: str) -> str:
        words = args.split()
        return " ".join(words[1:] if len(words) > 1 else words)

    command = same(rows[main_pid][1])

    def under_main(pid: int) -> bool:
        seen = set()
        while pid in rows and pid not in seen:
            if pid == main_pid:
                return True
            seen.add(pid)
            pid = rows[pid][0]
        return False

    return sorted((pid, args) for pid, (ppid, args) in rows.items()
                  if same(args) == command and not under_main(pid) and same(rows.get(ppid, (0, ""))[1]) != command)


class Process(OneIncident):
    name = "process"
    spec = ProcessFault

    def parse(self, table: Table, target: Target) -> ProcessFault:
        return parse(table, target)

    def injected(self, context: Context, fault: ProcessFault) -> AbstractContextManager[Injection]:
        return injected(context, fault)

    def leftovers(self, scenario: Scenario, environment: Environment, processes: ProcessManager) -> Leftovers:
        """For the app's programs: a second copy of the program the manager did not start."""
        fault = scenario.fault
        assert isinstance(fault, ProcessFault)
        if fault.program == "database":
            return Leftovers()
        check = f"no second {fault.program} outside {processes.name}"
        try:
            main = processes.main_pid(fault.program)
        except HarnessError as exc:
            return Leftovers(unchecked=(f"{check}: {exc}",))
        listing = environment.exec(PROCESS_LIST)
        if not listing.ok:
            return Leftovers(unchecked=(f"{check}: {listing.last_line()}",))
        found = [f"an orphaned {fault.program} (pid {pid}, `{args[:120]}`) runs outside {processes.name}, "
                 f"beside its own (pid {main})" for pid, args in orphans(listing.stdout, main)]
        return Leftovers(tuple(found), (check,))
