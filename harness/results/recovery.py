"""When service came back: the one definition of "recovered", shared by the live phase and
by `measure` (DESIGN.md, "Decisions come from what is live")."""

from __future__ import annotations

import bisect
from collections.abc import Sequence


def recovered_at(
    requests: Sequence[tuple[float, bool]],
    probe_changes: Sequence[tuple[float, bool]],
    start: float,
    end: float,
    stable_s: float,
    allowed_rate: float,
) -> float | None:
    """Start of the first `stable_s` window after `start` with the error rate at most
    `allowed_rate`, requests flowing and every probe green.

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

    candidates = {start} | {ts for ts, green in probe_changes if green and ts >= start}
    for k in range(1, len(requests)):
        if requests[k - 1][1] and not requests[k][1] and requests[k][0] >= start:
            candidates.add(requests[k][0])
    for s in sorted(candidates):
        if s + stable_s > end:
            break
        lo, hi = bisect.bisect_left(times, s), bisect.bisect_right(times, s + stable_s)
        total, bad_count = hi - lo, bad_prefix[hi] - bad_prefix[lo]
        if total and bad_count / total <= allowed_rate and probes_green(s, s + stable_s):
            return s
    return None


def relapse_after(requests: Sequence[tuple[float, bool]], recovered_ts: float,
                  actions: Sequence[float]) -> float | None:
    """The first bad request after a recovery command that started after `recovered_ts`:
    service had come back (a deploy's stall that ended by itself), and the command broke it
    again (the previous release's code on a schema it cannot use). None when no command
    came later, or none was followed by a bad request.

    `requests` are (ts, bad) sorted by ts; `actions` are the commands' start times.
    """
    later = [ts for ts in actions if ts > recovered_ts]
    if not later:
        return None
    return next((ts for ts, bad in requests if bad and ts >= min(later)), None)


def recovered_for_good(
    requests: Sequence[tuple[float, bool]],
    probe_changes: Sequence[tuple[float, bool]],
    start: float,
    end: float,
    stable_s: float,
    allowed_rate: float,
    actions: Sequence[float] = (),
) -> float | None:
    """`recovered_at`, searched again from each relapse (`relapse_after`): the start of the
    first stable window after the last failure a recovery command caused. Time to recover
    runs until service came back for good, not to a lull before the rollback broke it."""
    ts = recovered_at(requests, probe_changes, start, end, stable_s, allowed_rate)
    while ts is not None and (relapse := relapse_after(requests, ts, actions)) is not None:
        ts = recovered_at(requests, probe_changes, relapse, end, stable_s, allowed_rate)
    return ts


def search_start(t0: float, impact_ts: float | None, first_alarm_ts: float | None) -> float:
    """Where the search for a stable window begins: the later of the first failed request
    and the first alarm (t0 when neither happened). A window that closed before anything
    was noticed cannot be the recovery: a red probe alone (a hung worker) may come later
    than `stable_s` after t0."""
    return max([t0] + [ts for ts in (impact_ts, first_alarm_ts) if ts is not None])
