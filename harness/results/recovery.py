"""When service came back: the one definition of "recovered", shared by the live phase and
by `measure` (DESIGN.md, "Decisions come from what is live")."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from harness.config.scenario import Scenario
from harness.results.timeline import Event

# The share of bad requests at which service does not hold, when the scenario has no
# error-rate detector: the baseline's steady-state check uses the same bar.
STEADY_STATE_LIMIT = 0.05


def steady_state_limit(scenario: Scenario) -> float:
    """The share of bad requests at which service does not hold: the error-rate
    detector's threshold, else STEADY_STATE_LIMIT."""
    detector = scenario.detectors.error_rate
    return detector.threshold if detector is not None else STEADY_STATE_LIMIT


def recovery_commands(events: Iterable[Mapping[str, Any]], t0: float) -> list[tuple[float, float]]:
    """(start, end) of each recovery command after t0, from `rollback_started` and the
    `rollback_finished` that follows it (end = start when none did). A rerun of the
    fault's deploy (`retry`) is the fault again, not a recovery command."""
    found: list[tuple[float, float]] = []
    pending: list[tuple[str, float]] = []
    for e in sorted(events, key=lambda e: float(e["ts"])):
        action = str(e.get("action", ""))
        if action == "retry" or float(e["ts"]) < t0:
            continue
        if e["event"] == Event.ROLLBACK_STARTED:
            pending.append((action, float(e["ts"])))
        elif e["event"] == Event.ROLLBACK_FINISHED:
            match = next((p for p in pending if p[0] == action), None)
            if match is not None:
                pending.remove(match)
                found.append((match[1], float(e["ts"])))
    found += [(start, start) for _, start in pending]
    return sorted(found)


def relapse_after(requests: Sequence[tuple[float, bool]], recovered_ts: float,
                  commands: Sequence[tuple[float, float]], stable_s: float, limit: float) -> float | None:
    """The first bad request of a relapse: service had come back at `recovered_ts` (a
    deploy's stall that ended by itself), and a recovery command that started later broke
    it again (the previous release's code on a schema it cannot use). A command breaks
    service when, from its start until `stable_s` after its end, the share of bad requests
    reaches `limit` (`steady_state_limit`): one slow request in a reload is no relapse.
    None when no later command did.

    `requests` are (ts, bad) sorted by ts; `commands` are (start, end), sorted.
    """
    for start, end in commands:
        if start <= recovered_ts:
            continue
        window = [(ts, bad) for ts, bad in requests if start <= ts <= end + stable_s]
        bad = [ts for ts, is_bad in window if is_bad]
        if window and len(bad) / len(window) >= limit:
            return bad[0]
    return None


def recovered_at(
    requests: Sequence[tuple[float, bool]],
    probe_changes: Sequence[tuple[float, bool]],
    start: float,
    end: float,
    stable_s: float,
    allowed_rate: float,
    commands: Sequence[tuple[float, float]] = (),
    limit: float = STEADY_STATE_LIMIT,
) -> float | None:
    """Start of the first `stable_s` window after `start` with the error rate at most
    `allowed_rate`, requests flowing and every probe green; with the recovery `commands`
    ((start, end), sorted), searched again from each relapse (`relapse_after`, at `limit`):
    time to recover runs until service came back for good, not to a lull before the
    rollback broke it.

    `requests` are (ts, bad) sorted by ts; `probe_changes` are (ts, all_green) sorted.
    """
    times = [ts for ts, _ in requests]
    bad_prefix = [0]
    for _, is_bad in requests:
        bad_prefix.append(bad_prefix[-1] + int(is_bad))
    probe_times = [ts for ts, _ in probe_changes]

    def probes_green(a: float, b: float) -> bool:
        i = bisect.bisect_right(probe_times, a)
        if i > 0 and not probe_changes[i - 1][1]:
            return False
        j = bisect.bisect_right(probe_times, b)
        return all(green for _, green in probe_changes[i:j])

    def first_window(after: float) -> float | None:
        candidates = {after} | {ts for ts, green in probe_changes if green and ts >= after}
        for k in range(1, len(requests)):
            if requests[k - 1][1] and not requests[k][1] and requests[k][0] >= after:
                candidates.add(requests[k][0])
        for s in sorted(candidates):
            if s + stable_s > end:
                break
            lo, hi = bisect.bisect_left(times, s), bisect.bisect_right(times, s + stable_s)
            total, bad_count = hi - lo, bad_prefix[hi] - bad_prefix[lo]
            if total and bad_count / total <= allowed_rate and probes_green(s, s + stable_s):
                return s
        return None

    ts = first_window(start)
    while ts is not None and (relapse := relapse_after(requests, ts, commands, stable_s, limit)) is not None:
        ts = first_window(relapse)
    return ts


def search_start(t0: float, impact_ts: float | None, first_alarm_ts: float | None) -> float:
    """Where the search for a stable window begins: the later of the first failed request
    and the first alarm (t0 when neither happened). A window that closed before anything
    was noticed cannot be the recovery: a red probe alone (a hung worker) may come later
    than `stable_s` after t0."""
    return max([t0] + [ts for ts in (impact_ts, first_alarm_ts) if ts is not None])
