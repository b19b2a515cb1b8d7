"""A flag fault's rounds from what the run recorded: each round's times, failed requests
and blast radius, and the comparisons the report puts side by side (by mitigation, by
rollout percentage). Pure: the same events and records give the same result."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.results.model import RoundResult
from harness.results.records import Record
from harness.results.timeline import Event


def _rel(ts: float | None, t0: float) -> float | None:
    return None if ts is None else round(ts - t0, 3)


def rounds_of(events: Sequence[dict[str, Any]], records: Sequence[Record],
              run_t0: float | None) -> tuple[RoundResult, ...]:
    """One result per round that started; a round's requests are those that started from
    its t0 to its `round_finished` (or the next round). A round's incident is its failed
    requests: the flag's broken path fails them."""
    starts = [e for e in events if e["event"] == Event.ROUND_STARTED]
    found = []
    for n, start in enumerate(starts):
        index, t0 = int(start["round"]), float(start["ts"])
        ends = [float(e["ts"]) for e in events if e["event"] == Event.ROUND_FINISHED and e.get("round") == index]
        end = ends[0] if ends else (float(starts[n + 1]["ts"]) if n + 1 < len(starts) else float("inf"))
        mine = [e for e in events if e.get("round") == index or (e["event"] == Event.ALARM_RAISED
                                                                  and t0 <= float(e["ts"]) <= end)]
        alarm = min((float(e["ts"]) for e in mine if e["event"] == Event.ALARM_RAISED), default=None)
        done = next((e for e in mine if e["event"] == Event.ROLLBACK_FINISHED), None)
        mitigated = float(done["ts"]) if done is not None and done.get("exit_status", 0) == 0 else None
        finished = next((e for e in mine if e["event"] == Event.ROUND_FINISHED), None)
        recovered = None if finished is None or finished.get("recovered_ts") is None else float(
            finished["recovered_ts"])
        seen = [r for r in records if t0 <= r.ts < end]
        impact = min((r.ts for r in seen if r.failed), default=None)
        # The incident starts at the first failed request, or at the first alarm when a
        # probe saw it before any user did (so times to detect and mitigate are never < 0).
        incident_start = min(ts for ts in (impact, alarm, t0 if impact is None else None) if ts is not None)
        # The exposure: from the flag turned on to the mitigation in place. (From the first
        # failure instead, a fast alarm leaves a handful of requests that always include
        # that failure, and a 5% rollout could look wider than a 50% one.)
        exposed_until = mitigated if mitigated is not None else end
        exposed = [r for r in seen if t0 <= r.ts <= exposed_until] if impact is not None else []
        found.append(RoundResult(
            index=index, percent=int(start["percent"]), mitigation=str(start["mitigation"]),
            started_s=round(t0 - (run_t0 if run_t0 is not None else t0), 3),
            impact_s=_rel(impact, t0), detect_s=_rel(alarm, t0), mitigated_s=_rel(mitigated, t0),
            recovered_s=_rel(recovered, t0),
            time_to_detect_s=None if alarm is None else round(alarm - incident_start, 3),
            time_to_mitigate_s=None if mitigated is None else round(mitigated - incident_start, 3),
            requests=len(seen), failed=sum(r.failed for r in seen),
            blast_radius=round(sum(r.failed for r in exposed) / len(exposed), 4) if exposed else 0.0,
        ))
    return tuple(found)


@dataclass(frozen=True)
class Comparison:
    """The rounds that share a mitigation (or a percentage), summarised by medians."""

    label: str
    rounds: int
    time_to_mitigate_s: float | None
    failed: float | None
    blast_radius: float | None


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 4) if known else None


def compare(rounds: Sequence[RoundResult], by: str) -> tuple[Comparison, ...]:
    """Medians per mitigation (`by="mitigation"`) or per rollout percentage (`by="percent"`)."""
    groups: dict[str, list[RoundResult]] = {}
    for one in rounds:
        label = one.mitigation if by == "mitigation" else f"{one.percent}%"
        groups.setdefault(label, []).append(one)
    return tuple(Comparison(label, len(group), _median([r.time_to_mitigate_s for r in group]),
                            _median([float(r.failed) for r in group]), _median([r.blast_radius for r in group]))
                 for label, group in groups.items())
