"""Recorded rehearsals as plain data, importing nothing from gameday: what a run observed,
for `measure`. tests/unit/data/ holds the schema-1 result.json files that earlier gameday
code wrote from these same inputs (`first-*`: the first schema-1 writer, commit 807a2d7;
the others: commit 2567691, before the result became a typed value)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

T0 = 1_800_000_000.0

ENVIRONMENT = {
    "gameday_version": "0.1.0", "git_revision": "2567691",
    "images": {"web": "gameday-web:abc123", "db": "gameday-db:def456"},
    "load": {"users": 20, "spawn_rate": 20.0, "locustfile": "locustfile.py", "latency_limit_ms": 1000.0},
}
CHECKS = ["containers running, none paused", "no deploy lock held", "/health healthy (worker alive)"]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def log(action: str, step: str, end: float, duration: float = 0.01, ok: bool = True,
        detail: str = "") -> dict[str, Any]:
    """One deploy-log line as the built-in tool wrote it; `end` is seconds after T0."""
    return {"ts": iso(T0 + end), "action": action, "step": step, "release": "r2", "ok": ok,
            "duration_s": duration, "detail": detail}


def traffic(start: float, end: float, bad: tuple[float, float] | None = None,
            release: str = "r1") -> list[tuple[float, int, float, bool, str]]:
    """(ts, status, latency_ms, failed, release) at 50 req/s, failing (from "r2") inside `bad`."""
    found = []
    for i in range(int((end - start) * 50)):
        ts = T0 + start + i / 50
        failed = bad is not None and T0 + bad[0] <= ts < T0 + bad[1]
        found.append((ts, 500 if failed else 200, 10.0, failed, "r2" if failed else release))
    return found


@dataclass(frozen=True)
class Case:
    name: str
    scenario: str
    records: list[tuple[float, int, float, bool, str]]
    timeline: list[dict[str, Any]]
    deploy_log: list[dict[str, Any]]
    started_at: float = T0 - 10
    finished_at: float = T0 + 30
    t0: float | None = T0
    releases: dict[str, str | None] = field(default_factory=lambda: {"before": "r1", "deployed": "r2",
                                                                       "after": "r1"})
    jobs: dict[str, int] | None = field(default_factory=lambda: {"enqueued": 10, "completed": 10, "lost": 0,
                                                                   "duplicated": 0})
    actions: tuple[str, ...] = ("rollback",)
    code_rollback_recovered: bool | None = True
    outcome: str | None = None
    reason: str | None = None
    environment: dict[str, Any] = field(default_factory=lambda: dict(ENVIRONMENT))
    hygiene: dict[str, Any] | None = field(default_factory=lambda: {"clean": True, "findings": [],
                                                                      "checks": list(CHECKS)})


def incident(name: str = "incident", alarm_s: float = 0.62) -> Case:
    """An unhealthy release went live without a gate; an alarm, a rollback, recovery."""
    return Case(
        name, "failing-health-check-no-gate", traffic(-5, 10, bad=(0.5, 1.4)),
        [{"ts": T0 - 5, "event": "phase_started", "phase": "baseline"},
         {"ts": T0, "event": "fault_injected", "kind": "deploy"},
         {"ts": T0 + 0.55, "event": "probe_changed", "detector": "health", "ok": False, "detail": "503"},
         {"ts": T0 + alarm_s, "event": "alarm_raised", "detector": "error_rate", "detail": "3/3"},
         {"ts": T0 + 1.45, "event": "probe_changed", "detector": "health", "ok": True, "detail": "200"}],
        [log("deploy", "release", 0.05, detail="bad-health -> releases/r2"), log("deploy", "swap", 0.5),
         log("rollback", "lock", 1.2, 0.001), log("rollback", "swap", 1.21), log("rollback", "unlock", 1.5, 0.001)],
    )


def clean() -> Case:
    """The control: a planned round trip v1 -> v2 -> v1 with no failure and no alarm."""
    return Case(
        "clean", "clean-deploy", traffic(-5, 10),
        [{"ts": T0, "event": "fault_injected", "kind": "deploy"}],
        [log("deploy", "release", 0.05, detail="v2 -> releases/r2"), log("deploy", "migrate", 0.2, 0.1),
         log("deploy", "gate", 0.4, 0.15), log("deploy", "swap", 0.45),
         log("rollback", "lock", 3.0, 0.001), log("rollback", "swap", 3.1), log("rollback", "unlock", 3.2, 0.001)],
    )


def gaps() -> Case:
    """A destructive migration: code rollback alone does not recover, the db step does;
    a false alarm before the fault, and a lock left behind."""
    return Case(
        "gaps", "bad-migration", traffic(-5, 20, bad=(0.3, 8.0)),
        [{"ts": T0 - 2, "event": "alarm_raised", "detector": "health", "detail": "timeout"},
         {"ts": T0, "event": "fault_injected", "kind": "deploy"},
         {"ts": T0 + 0.9, "event": "alarm_raised", "detector": "error_rate", "detail": "9/10"}],
        [log("deploy", "release", 0.05, detail="bad-migration -> releases/r2"), log("deploy", "migrate", 0.25, 0.1),
         log("deploy", "gate", 0.5, 0.2), log("deploy", "swap", 0.6),
         log("rollback", "lock", 1.0, 0.001), log("rollback", "swap", 1.1), log("rollback", "unlock", 1.3, 0.001),
         log("rollback", "lock", 6.0, 0.001), log("rollback", "db", 7.9, 1.5), log("rollback", "unlock", 8.0, 0.001)],
        actions=("rollback", "rollback --db-only"), code_rollback_recovered=False,
        jobs={"enqueued": 12, "completed": 11, "lost": 1, "duplicated": 0},
        hygiene={"clean": False, "findings": ["deploy lock held"], "checks": list(CHECKS)},
    )


def aborted() -> Case:
    """Interrupted during the baseline: no fault, no deploy log, no jobs counted."""
    return Case(
        "aborted", "bad-migration", traffic(-5, -2), [{"ts": T0 - 5, "event": "phase_started", "phase": "baseline"}],
        [], started_at=T0 - 6, finished_at=T0 - 1, t0=None, releases={"before": "r1"}, jobs=None, actions=(),
        code_rollback_recovered=None, outcome="aborted", reason="interrupted", hygiene=None,
    )


def errored() -> Case:
    """The replica could not start: nothing observed at all."""
    return Case(
        "error", "hung-worker", [], [], [], started_at=T0 - 6, finished_at=T0 - 5, t0=None, releases={},
        jobs=None, actions=(), code_rollback_recovered=None, outcome="error",
        reason="could not deploy the start release v1", environment={}, hygiene=None,
    )


CASES = {c.name: c for c in (clean(), incident(), gaps(), aborted(), errored())}
