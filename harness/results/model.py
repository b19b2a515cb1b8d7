"""The result of one rehearsal, `reports/<run-id>/result.json`, as one typed value.

`Result.to_json` and `Result.from_json` are its one codec. The file is a contract
(DESIGN.md, "The result contract"): keys may be added, none removed or renamed without
bumping `SCHEMA`, and `from_json` reads every schema-1 file, including those written
before a key existed (such a key reads as None). A value that did not happen is null.

The thresholds a scenario promises are objectives in the code; the file keeps its
schema-1 keys `targets` (the list) and `target` (an objective's threshold).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from harness.errors import InputError

SCHEMA = 1

Json = dict[str, Any]


def rfc3339(ts: float) -> str:
    """Epoch seconds as RFC 3339 in UTC with milliseconds, `Z`-suffixed."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_ts(value: str) -> float:
    """Epoch seconds of an RFC 3339 timestamp (`Z` or an offset)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class Outcome(StrEnum):
    """How a rehearsal ended. `met` and `gaps` ran to the end; the others did not."""

    MET = "met"
    GAPS = "gaps"
    ABORTED = "aborted"
    ERROR = "error"

    @property
    def finished(self) -> bool:
        return self in (Outcome.MET, Outcome.GAPS)


class ResultFormatError(ValueError):
    """A result.json value has the wrong shape: names the key (dotted, with list indexes)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class _Obj:
    """One JSON object of a result, read with types checked; errors name the key."""

    def __init__(self, data: object, key: str = "") -> None:
        if not isinstance(data, dict):
            raise ResultFormatError(key or "result", f"must be an object, got {type(data).__name__}")
        self.data: Json = data
        self.key = key

    def path(self, key: str) -> str:
        return f"{self.key}.{key}" if self.key else key

    def _get(self, key: str, required: bool) -> object:
        value = self.data.get(key)
        if value is None and required:
            raise ResultFormatError(self.path(key), "is required" if key not in self.data else "must not be null")
        return value

    def _wrong(self, key: str, value: object, wanted: str) -> ResultFormatError:
        return ResultFormatError(self.path(key), f"must be {wanted}, got {value!r}")

    def opt_text(self, key: str) -> str | None:
        value = self._get(key, False)
        if value is None or isinstance(value, str):
            return value
        raise self._wrong(key, value, "a string")

    def text(self, key: str) -> str:
        value = self._get(key, True)
        if isinstance(value, str):
            return value
        raise self._wrong(key, value, "a string")

    def opt_timestamp(self, key: str) -> str | None:
        """An RFC 3339 timestamp, as written."""
        value = self.opt_text(key)
        if value is None:
            return None
        try:
            parse_ts(value)
        except (ValueError, OverflowError, OSError):
            raise self._wrong(key, value, "an RFC 3339 timestamp") from None
        return value

    def timestamp(self, key: str) -> str:
        self.text(key)
        found = self.opt_timestamp(key)
        assert found is not None
        return found

    def opt_number(self, key: str) -> float | None:
        """An int stays an int, so a value read and written again is unchanged."""
        value = self._get(key, False)
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            return value
        raise self._wrong(key, value, "a number")

    def number(self, key: str) -> float:
        value = self._get(key, True)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        raise self._wrong(key, value, "a number")

    def opt_count(self, key: str) -> int | None:
        value = self._get(key, False)
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise self._wrong(key, value, "a whole number")

    def count(self, key: str) -> int:
        value = self._get(key, True)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise self._wrong(key, value, "a whole number")

    def opt_flag(self, key: str) -> bool | None:
        value = self._get(key, False)
        if value is None or isinstance(value, bool):
            return value
        raise self._wrong(key, value, "true or false")

    def flag(self, key: str) -> bool:
        value = self._get(key, True)
        if isinstance(value, bool):
            return value
        raise self._wrong(key, value, "true or false")

    def opt_table(self, key: str) -> _Obj | None:
        value = self._get(key, False)
        return None if value is None else _Obj(value, self.path(key))

    def table(self, key: str) -> _Obj:
        return _Obj(self._get(key, True), self.path(key))

    def tables(self, key: str) -> list[_Obj]:
        value = self._get(key, False)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._wrong(key, value, "a list")
        return [_Obj(item, f"{self.path(key)}[{i}]") for i, item in enumerate(value)]

    def texts(self, key: str) -> tuple[str, ...]:
        value = self._get(key, False)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._wrong(key, value, "a list of strings")
        return tuple(value)


@dataclass(frozen=True)
class Releases:
    """Release directory names: live before the fault, created by the fault's deploy, live after."""

    before: str | None = None
    deployed: str | None = None
    after: str | None = None

    def to_json(self) -> Json:
        return {"before": self.before, "deployed": self.deployed, "after": self.after}

    @classmethod
    def from_json(cls, data: object, key: str = "releases") -> Releases:
        o = _Obj(data, key)
        return cls(o.opt_text("before"), o.opt_text("deployed"), o.opt_text("after"))


@dataclass(frozen=True)
class Times:
    """Seconds after t0 (DESIGN.md, "A rehearsal: definitions"); None when it did not happen."""

    impact_s: float | None
    detect_s: float | None
    rollback_started_s: float | None
    rollback_done_s: float | None
    recovered_s: float | None
    impact_end_s: float | None  # the last bad request after t0; None in the first schema-1 files
    # The first request the deployed release answered (from the target's release header):
    # when the swap took effect for users, whatever deploy tool made it. None without a
    # release header, when it never answered, and in files written before it was added.
    deployed_serving_s: float | None = None
    # When the first recovery command that failed ended (a rollback refused by the host,
    # say); None when none failed, and in files written before it was added.
    rollback_failed_s: float | None = None

    def to_json(self) -> Json:
        return {"impact_s": self.impact_s, "detect_s": self.detect_s, "rollback_started_s": self.rollback_started_s,
                "rollback_done_s": self.rollback_done_s, "recovered_s": self.recovered_s,
                "impact_end_s": self.impact_end_s, "deployed_serving_s": self.deployed_serving_s,
                "rollback_failed_s": self.rollback_failed_s}

    @classmethod
    def from_json(cls, data: object, key: str = "times") -> Times:
        o = _Obj(data, key)
        return cls(o.opt_number("impact_s"), o.opt_number("detect_s"), o.opt_number("rollback_started_s"),
                   o.opt_number("rollback_done_s"), o.opt_number("recovered_s"), o.opt_number("impact_end_s"),
                   o.opt_number("deployed_serving_s"), o.opt_number("rollback_failed_s"))


@dataclass(frozen=True)
class Durations:
    """Seconds: detection after impact, the rollback command's span, recovery after impact."""

    time_to_detect_s: float | None
    time_to_rollback_s: float | None
    time_to_recover_s: float | None

    def to_json(self) -> Json:
        return {"time_to_detect_s": self.time_to_detect_s, "time_to_rollback_s": self.time_to_rollback_s,
                "time_to_recover_s": self.time_to_recover_s}

    @classmethod
    def from_json(cls, data: object, key: str = "durations") -> Durations:
        o = _Obj(data, key)
        return cls(o.opt_number("time_to_detect_s"), o.opt_number("time_to_rollback_s"),
                   o.opt_number("time_to_recover_s"))


@dataclass(frozen=True)
class BadByWindow:
    """Bad requests after t0 by what the deploy log says was running then."""

    migrate_to_swap: int
    rollback_to_db_step: int
    other: int

    def to_json(self) -> Json:
        return {"migrate_to_swap": self.migrate_to_swap, "rollback_to_db_step": self.rollback_to_db_step,
                "other": self.other}

    @classmethod
    def from_json(cls, data: object, key: str) -> BadByWindow:
        o = _Obj(data, key)
        return cls(o.count("migrate_to_swap"), o.count("rollback_to_db_step"), o.count("other"))


@dataclass(frozen=True)
class Requests:
    """Request counts for the run; `failed_in_incident` counts failures after t0."""

    total: int
    failed: int
    failed_in_incident: int
    served_by_deployed: int | None  # None when no release was deployed
    baseline_error_rate: float | None  # bad requests before t0 over all before t0, 0..1
    bad_by_window: BadByWindow | None

    def to_json(self) -> Json:
        return {"total": self.total, "failed": self.failed, "failed_in_incident": self.failed_in_incident,
                "served_by_deployed": self.served_by_deployed, "baseline_error_rate": self.baseline_error_rate,
                "bad_by_window": None if self.bad_by_window is None else self.bad_by_window.to_json()}

    @classmethod
    def from_json(cls, data: object, key: str = "requests") -> Requests:
        o = _Obj(data, key)
        window = o.opt_table("bad_by_window")
        return cls(o.count("total"), o.count("failed"), o.count("failed_in_incident"),
                   o.opt_count("served_by_deployed"), o.opt_number("baseline_error_rate"),
                   None if window is None else BadByWindow.from_json(window.data, window.key))


@dataclass(frozen=True)
class Jobs:
    """Jobs enqueued during the run, completed, lost (never completed) and applied twice."""

    enqueued: int
    completed: int
    lost: int
    duplicated: int

    def to_json(self) -> Json:
        return {"enqueued": self.enqueued, "completed": self.completed, "lost": self.lost,
                "duplicated": self.duplicated}

    @classmethod
    def from_json(cls, data: object, key: str = "jobs") -> Jobs:
        o = _Obj(data, key)
        return cls(o.count("enqueued"), o.count("completed"), o.count("lost"), o.count("duplicated"))


@dataclass(frozen=True)
class RecoveryDone:
    """What recovery did: the commands run, in order, and whether code rollback alone recovered.

    (The scenario's `Recovery` is what it should do.)
    """

    actions: tuple[str, ...]
    code_rollback_recovered: bool | None

    def to_json(self) -> Json:
        return {"actions": list(self.actions), "code_rollback_recovered": self.code_rollback_recovered}

    @classmethod
    def from_json(cls, data: object, key: str = "recovery") -> RecoveryDone:
        o = _Obj(data, key)
        return cls(o.texts("actions"), o.opt_flag("code_rollback_recovered"))


@dataclass(frozen=True)
class Incident:
    """What really happened, from the timeline, what was live and the steps: one `cause`
    sentence, whether the deployed release went live, the deploy command's exit status,
    what was done to a deploy still running, and whether service came back before any
    rollback ran."""

    cause: str | None = None
    went_live: bool | None = None
    deploy_exit_status: int | None = None
    deploy_interrupted: str | None = None
    recovered_without_rollback: bool | None = None

    def to_json(self) -> Json:
        return {"cause": self.cause, "went_live": self.went_live, "deploy_exit_status": self.deploy_exit_status,
                "deploy_interrupted": self.deploy_interrupted,
                "recovered_without_rollback": self.recovered_without_rollback}

    @classmethod
    def from_json(cls, data: object, key: str = "incident") -> Incident:
        o = _Obj(data, key)
        return cls(o.opt_text("cause"), o.opt_flag("went_live"), o.opt_count("deploy_exit_status"),
                   o.opt_text("deploy_interrupted"), o.opt_flag("recovered_without_rollback"))


@dataclass(frozen=True)
class Rung:
    """One detector on the detection ladder: its first alarm after t0 (`detect_s`), its
    time to detect from the first failure, and what it said; None when it never fired."""

    detector: str
    detect_s: float | None
    time_to_detect_s: float | None
    detail: str

    def to_json(self) -> Json:
        return {"detector": self.detector, "detect_s": self.detect_s, "time_to_detect_s": self.time_to_detect_s,
                "detail": self.detail}

    @classmethod
    def from_json(cls, data: object, key: str) -> Rung:
        o = _Obj(data, key)
        return cls(o.text("detector"), o.opt_number("detect_s"), o.opt_number("time_to_detect_s"),
                   o.opt_text("detail") or "")


@dataclass(frozen=True)
class Detection:
    """The first detector to alarm after t0 (or "deploy gate"), alarms after t0, alarms
    before, and the `ladder`: every detector the scenario set, fastest first, those that
    never fired last."""

    first_detector: str | None
    alarms: int
    false_alarms: int
    ladder: tuple[Rung, ...] = ()

    def to_json(self) -> Json:
        return {"first_detector": self.first_detector, "alarms": self.alarms, "false_alarms": self.false_alarms,
                "ladder": [r.to_json() for r in self.ladder]}

    @classmethod
    def from_json(cls, data: object, key: str = "detection") -> Detection:
        o = _Obj(data, key)
        return cls(o.opt_text("first_detector"), o.count("alarms"), o.count("false_alarms"),
                   tuple(Rung.from_json(r.data, r.key) for r in o.tables("ladder")))


@dataclass(frozen=True)
class Regression:
    """Why the regression budget failed an objective: the median of `runs` earlier runs."""

    median: float
    runs: int
    budget_pct: float

    def to_json(self) -> Json:
        return {"median": self.median, "runs": self.runs, "budget_pct": self.budget_pct}

    @classmethod
    def from_json(cls, data: object, key: str) -> Regression:
        o = _Obj(data, key)
        return cls(o.number("median"), o.count("runs"), o.number("budget_pct"))


@dataclass(frozen=True)
class ObjectiveResult:
    """One objective judged: `met` is None when a run that stopped early cannot say.

    In the file: an entry of `targets`, with the threshold under `target`.
    """

    name: str
    objective: float
    measured: float | None
    met: bool | None
    regression: Regression | None = None

    def to_json(self) -> Json:
        return {"name": self.name, "target": self.objective, "measured": self.measured, "met": self.met,
                "regression": None if self.regression is None else self.regression.to_json()}

    @classmethod
    def from_json(cls, data: object, key: str) -> ObjectiveResult:
        o = _Obj(data, key)
        regression = o.opt_table("regression")
        return cls(o.text("name"), o.number("target"), o.opt_number("measured"), o.opt_flag("met"),
                   None if regression is None else Regression.from_json(regression.data, regression.key))


@dataclass(frozen=True)
class Gap:
    """A missed objective (or a false alarm, or a leftover fault) with its cause and advice.

    In the file the threshold is under `target`; `regression` is true when the regression
    budget, not the objective itself, was missed.
    """

    name: str
    objective: float
    measured: float | None
    cause: str
    advice: str
    regression: bool = False
    # PREVENTABLE when migration lint flagged what caused it (`rules` names the lint
    # rules), RUNTIME when only detection at run time could catch it; None in files
    # written before the lint existed (`harness.results.lint`).
    prevention: str | None = None
    rules: tuple[str, ...] = ()
    # In a run that did not finish: what stopped it ("gameday's own interrupt"), which may
    # itself have left what this gap names (a deploy lock an interrupted rollback held).
    # Such a gap is not a failure of the team's recovery. None in a finished run.
    found_after: str | None = None

    def to_json(self) -> Json:
        return {"name": self.name, "target": self.objective, "measured": self.measured, "cause": self.cause,
                "advice": self.advice, "regression": self.regression, "prevention": self.prevention,
                "rules": list(self.rules), "found_after": self.found_after}

    @classmethod
    def from_json(cls, data: object, key: str) -> Gap:
        o = _Obj(data, key)
        return cls(o.text("name"), o.number("target"), o.opt_number("measured"), o.text("cause"),
                   o.opt_text("advice") or "", bool(o.opt_flag("regression")), o.opt_text("prevention"),
                   o.texts("rules"), o.opt_text("found_after"))


# A gap's `prevention`: what would have caught it.
PREVENTABLE = "preventable before deploy"
RUNTIME = "needed runtime detection"


@dataclass(frozen=True)
class LintFinding:
    """One finding of the migration linter (squawk) on a migration the rehearsal applied:
    the release that brought the migration, its file (path inside the release), the line
    (1-based), the linter's rule name, its level ("warning" or "error") and message."""

    release: str
    file: str
    line: int
    rule: str
    level: str
    message: str

    def to_json(self) -> Json:
        return {"release": self.release, "file": self.file, "line": self.line, "rule": self.rule,
                "level": self.level, "message": self.message}

    @classmethod
    def from_json(cls, data: object, key: str) -> LintFinding:
        o = _Obj(data, key)
        return cls(o.text("release"), o.text("file"), o.count("line"), o.text("rule"), o.text("level"),
                   o.text("message"))


@dataclass(frozen=True)
class Lint:
    """The migration lint of a run: the linter and its version (None when it could not
    run, with `note` saying why), the migration files linted (`release:file`), and the
    findings."""

    tool: str | None
    files: tuple[str, ...]
    findings: tuple[LintFinding, ...]
    note: str | None = None

    def to_json(self) -> Json:
        return {"tool": self.tool, "files": list(self.files), "findings": [f.to_json() for f in self.findings],
                "note": self.note}

    @classmethod
    def from_json(cls, data: object, key: str = "lint") -> Lint:
        o = _Obj(data, key)
        return cls(o.opt_text("tool"), o.texts("files"),
                   tuple(LintFinding.from_json(f.data, f.key) for f in o.tables("findings")), o.opt_text("note"))


@dataclass(frozen=True)
class SchemaCheck:
    """The clean-round-trip check: after a database rollback or a redeploy (`after_s`, seconds after t0),
    the schema objects that were not there before the fault (`leftover`) and those that
    were and are gone (`missing`), each as "kind name" (e.g. "index orders_coupon_idx",
    "column orders.coupon"); or, when a dump failed, a `note` saying so."""

    after_s: float | None
    leftover: tuple[str, ...]
    missing: tuple[str, ...]
    note: str | None = None  # why the schema could not be compared (then `clean` is null)
    # What the check followed: "db rollback", or "redeploy" (the start release deployed
    # again as the way back, which never reverts the schema).
    after: str = "db rollback"

    @property
    def clean(self) -> bool | None:
        return None if self.note is not None else not self.leftover and not self.missing

    def to_json(self) -> Json:
        return {"after_s": self.after_s, "after": self.after, "clean": self.clean, "leftover": list(self.leftover),
                "missing": list(self.missing), "note": self.note}

    @classmethod
    def from_json(cls, data: object, key: str) -> SchemaCheck:
        o = _Obj(data, key)
        return cls(o.opt_number("after_s"), o.texts("leftover"), o.texts("missing"), o.opt_text("note"),
                   o.opt_text("after") or "db rollback")


@dataclass(frozen=True)
class Step:
    """One deploy or rollback step after t0, from the deploy log; `started_s` is after t0."""

    name: str
    action: str | None
    started_s: float | None
    duration_s: float | None
    ok: bool
    release: str | None
    detail: str

    def to_json(self) -> Json:
        return {"name": self.name, "action": self.action, "started_s": self.started_s,
                "duration_s": self.duration_s, "ok": self.ok, "release": self.release, "detail": self.detail}

    @classmethod
    def from_json(cls, data: object, key: str) -> Step:
        o = _Obj(data, key)
        return cls(o.text("name"), o.opt_text("action"), o.opt_number("started_s"), o.opt_number("duration_s"),
                   o.flag("ok"), o.opt_text("release"), o.opt_text("detail") or "")


@dataclass(frozen=True)
class Hygiene:
    """After the run, before teardown: is every fault gone? `findings` lists what is not."""

    clean: bool
    findings: tuple[str, ...]
    checks: tuple[str, ...]

    def to_json(self) -> Json:
        return {"clean": self.clean, "findings": list(self.findings), "checks": list(self.checks)}

    @classmethod
    def from_json(cls, data: object, key: str = "hygiene") -> Hygiene:
        o = _Obj(data, key)
        return cls(o.flag("clean"), o.texts("findings"), o.texts("checks"))


@dataclass(frozen=True)
class LoadLostFact:
    """The load generator stopped making load: when (seconds after t0; None before t0 or
    without one) and why (Locust's exit status and last log lines, a load shape that ended)."""

    at_s: float | None
    cause: str

    def to_json(self) -> Json:
        return {"at_s": self.at_s, "cause": self.cause}

    @classmethod
    def from_json(cls, data: object, key: str = "load_lost") -> LoadLostFact:
        o = _Obj(data, key)
        return cls(o.opt_number("at_s"), o.text("cause"))


@dataclass(frozen=True)
class LoadSettings:
    """The load as configured: Locust users, users started per second, the locustfile's name,
    and Locust's worker processes (0: one plain process) and the workers it waited for on
    other machines (0 in files written before they were added)."""

    users: int
    spawn_rate: float
    locustfile: str  # the file's name
    latency_limit_ms: float
    workers: int = 0
    remote_workers: int = 0
    # What Locust ran: the locustfile's User classes and its load shape (None: none; a shape
    # sets the users over time, so `users` and `spawn_rate` did not apply). Empty and None
    # in files written before they were added.
    user_classes: tuple[str, ...] = ()
    shape: str | None = None

    def to_json(self) -> Json:
        return {"users": self.users, "spawn_rate": self.spawn_rate, "locustfile": self.locustfile,
                "latency_limit_ms": self.latency_limit_ms, "workers": self.workers,
                "remote_workers": self.remote_workers, "user_classes": list(self.user_classes), "shape": self.shape}

    @classmethod
    def from_json(cls, data: object, key: str) -> LoadSettings:
        o = _Obj(data, key)
        return cls(o.count("users"), o.number("spawn_rate"), o.text("locustfile"), o.number("latency_limit_ms"),
                   o.opt_count("workers") or 0, o.opt_count("remote_workers") or 0,
                   tuple(o.texts("user_classes")) if "user_classes" in o.data else (), o.opt_text("shape"))


@dataclass(frozen=True)
class EnvironmentFacts:
    """What ran the rehearsal: gameday's version and revision, the images by role, the load."""

    gameday_version: str | None = None
    git_revision: str | None = None
    images: Mapping[str, str] | None = None
    load: LoadSettings | None = None

    def to_json(self) -> Json:
        return {"gameday_version": self.gameday_version, "git_revision": self.git_revision,
                "images": None if self.images is None else dict(self.images),
                "load": None if self.load is None else self.load.to_json()}

    @classmethod
    def from_json(cls, data: object, key: str = "environment") -> EnvironmentFacts:
        o = _Obj(data, key)
        images = o.opt_table("images")
        load = o.opt_table("load")
        return cls(
            o.opt_text("gameday_version"), o.opt_text("git_revision"),
            None if images is None else {role: images.text(role) for role in images.data},
            None if load is None else LoadSettings.from_json(load.data, load.key),
        )


@dataclass(frozen=True)
class RegressionBudget:
    """The budget a run was judged with: `pct` over the median of `history` (at most `runs`) runs."""

    pct: float
    runs: int
    history: int

    def to_json(self) -> Json:
        return {"pct": self.pct, "runs": self.runs, "history": self.history}

    @classmethod
    def from_json(cls, data: object, key: str = "regression_budget") -> RegressionBudget:
        o = _Obj(data, key)
        return cls(o.number("pct"), o.count("runs"), o.count("history"))


@dataclass(frozen=True)
class PlanStepResult:
    """One step of a plan: its deploy under load, and whether undoing it was safe.

    `started_s` is after t0 (the plan's start); `duration_s` is the deploy command's;
    `p95_ms` the 95th-percentile latency of the requests that started while the step
    deployed and settled; `rollback_safe` is None without a round trip."""

    index: int
    name: str
    release: str
    started_s: float | None
    duration_s: float | None
    deploy_exit_status: int | None
    requests: int
    failed: int
    p95_ms: float | None
    rollback_requests: int | None
    rollback_failed: int | None
    rollback_safe: bool | None
    why: str
    failure: str = ""  # the most common failure while it deployed
    failing_before: bool = False  # requests were already failing as the step began

    def to_json(self) -> Json:
        return {"index": self.index, "name": self.name, "release": self.release, "started_s": self.started_s,
                "duration_s": self.duration_s, "deploy_exit_status": self.deploy_exit_status,
                "requests": self.requests, "failed": self.failed, "p95_ms": self.p95_ms,
                "rollback_requests": self.rollback_requests, "rollback_failed": self.rollback_failed,
                "rollback_safe": self.rollback_safe, "why": self.why, "failure": self.failure,
                "failing_before": self.failing_before}

    @classmethod
    def from_json(cls, data: object, key: str) -> PlanStepResult:
        o = _Obj(data, key)
        exit_status, rb_requests, rb_failed = (o.opt_count(k) for k in
                                               ("deploy_exit_status", "rollback_requests", "rollback_failed"))
        return cls(o.count("index"), o.text("name"), o.text("release"), o.opt_number("started_s"),
                   o.opt_number("duration_s"), exit_status, o.count("requests"), o.count("failed"),
                   o.opt_number("p95_ms"), rb_requests, rb_failed, o.opt_flag("rollback_safe"),
                   o.opt_text("why") or "", o.opt_text("failure") or "", bool(o.opt_flag("failing_before")))


@dataclass(frozen=True)
class SchemaState:
    """A schema the plan passed through: `index` 0 is the one before it; `after` names the
    step that made it (or "start"); `columns` lists the public tables' columns."""

    index: int
    after: str
    columns: str

    def to_json(self) -> Json:
        return {"index": self.index, "after": self.after, "columns": self.columns}

    @classmethod
    def from_json(cls, data: object, key: str) -> SchemaState:
        o = _Obj(data, key)
        return cls(o.count("index"), o.text("after"), o.opt_text("columns") or "")


@dataclass(frozen=True)
class MatrixCell:
    """One release against one schema state, from a burst of the target's own load:
    it `serves` when requests were answered and none failed; `detail` says what failed."""

    release: str
    state: int
    requests: int
    failed: int
    serves: bool | None  # None: not measured (`detail` says why)
    detail: str

    def to_json(self) -> Json:
        return {"release": self.release, "state": self.state, "requests": self.requests, "failed": self.failed,
                "serves": self.serves, "detail": self.detail}

    @classmethod
    def from_json(cls, data: object, key: str) -> MatrixCell:
        o = _Obj(data, key)
        return cls(o.text("release"), o.count("state"), o.count("requests"), o.count("failed"),
                   o.opt_flag("serves"), o.opt_text("detail") or "")


@dataclass(frozen=True)
class PlanResult:
    """A plan's rollout: each step, the schema states it passed through, and the
    compatibility matrix (every release against every state; empty when not measured).
    `baseline_p95_ms` is the steady state's p95, to compare each step's with."""

    steps: tuple[PlanStepResult, ...]
    states: tuple[SchemaState, ...]
    matrix: tuple[MatrixCell, ...]
    baseline_p95_ms: float | None

    @property
    def releases(self) -> tuple[str, ...]:
        """The matrix's rows, in plan order."""
        return tuple(dict.fromkeys(cell.release for cell in self.matrix))

    def cell(self, release: str, state: int) -> MatrixCell | None:
        return next((c for c in self.matrix if c.release == release and c.state == state), None)

    def to_json(self) -> Json:
        return {"steps": [s.to_json() for s in self.steps], "states": [s.to_json() for s in self.states],
                "matrix": [c.to_json() for c in self.matrix], "baseline_p95_ms": self.baseline_p95_ms}

    @classmethod
    def from_json(cls, data: object, key: str = "plan") -> PlanResult:
        o = _Obj(data, key)
        return cls(tuple(PlanStepResult.from_json(s.data, s.key) for s in o.tables("steps")),
                   tuple(SchemaState.from_json(s.data, s.key) for s in o.tables("states")),
                   tuple(MatrixCell.from_json(c.data, c.key) for c in o.tables("matrix")),
                   o.opt_number("baseline_p95_ms"))


@dataclass(frozen=True)
class RoundResult:
    """One round of a flag fault: the flag on for `percent` of users, mitigated by
    `mitigation` ("flag-off" or "rollback"). Times are seconds after the round's own t0
    (the flag turned on); `time_to_mitigate_s` runs from the first failed request (or t0)
    to the end of the mitigation command; `blast_radius` is the share of requests that
    failed while the round was exposed, from the flag turned on to the end of the
    mitigation (0 when none failed)."""

    index: int
    percent: int
    mitigation: str
    started_s: float  # the round's t0, after the run's t0
    impact_s: float | None
    detect_s: float | None
    mitigated_s: float | None
    recovered_s: float | None
    time_to_detect_s: float | None
    time_to_mitigate_s: float | None
    requests: int
    failed: int
    blast_radius: float | None

    def to_json(self) -> Json:
        return {"index": self.index, "percent": self.percent, "mitigation": self.mitigation,
                "started_s": self.started_s, "impact_s": self.impact_s, "detect_s": self.detect_s,
                "mitigated_s": self.mitigated_s, "recovered_s": self.recovered_s,
                "time_to_detect_s": self.time_to_detect_s, "time_to_mitigate_s": self.time_to_mitigate_s,
                "requests": self.requests, "failed": self.failed, "blast_radius": self.blast_radius}

    @classmethod
    def from_json(cls, data: object, key: str) -> RoundResult:
        o = _Obj(data, key)
        return cls(index=o.count("index"), percent=o.count("percent"), mitigation=o.text("mitigation"),
                   started_s=o.number("started_s"), impact_s=o.opt_number("impact_s"),
                   detect_s=o.opt_number("detect_s"), mitigated_s=o.opt_number("mitigated_s"),
                   recovered_s=o.opt_number("recovered_s"), time_to_detect_s=o.opt_number("time_to_detect_s"),
                   time_to_mitigate_s=o.opt_number("time_to_mitigate_s"), requests=o.count("requests"),
                   failed=o.count("failed"), blast_radius=o.opt_number("blast_radius"))


@dataclass(frozen=True)
class CutRequest:
    """A request a reload cut: started `started_s` after t0, it had run `ran_s` when the
    reload began and ended `ended_s` after it, with `status` (0: the connection reset)."""

    name: str
    started_s: float | None
    ran_s: float
    ended_s: float
    status: int

    def to_json(self) -> Json:
        return {"name": self.name, "started_s": self.started_s, "ran_s": self.ran_s, "ended_s": self.ended_s,
                "status": self.status}

    @classmethod
    def from_json(cls, data: object, key: str) -> CutRequest:
        o = _Obj(data, key)
        return cls(o.text("name"), o.opt_number("started_s"), o.number("ran_s"), o.number("ended_s"),
                    o.count("status"))


@dataclass(frozen=True)
class DrainedJobs:
    """The jobs a worker had in progress when a reload began, from the app's job events:
    how many its own worker still completed, how many another worker took up again
    (requeued), how many nobody finished (lost) and how many finished twice (doubled)."""

    in_progress: int
    completed: int
    requeued: int
    lost: int
    doubled: int

    def to_json(self) -> Json:
        return {"in_progress": self.in_progress, "completed": self.completed, "requeued": self.requeued,
                "lost": self.lost, "doubled": self.doubled}

    @classmethod
    def from_json(cls, data: object, key: str) -> DrainedJobs:
        o = _Obj(data, key)
        return cls(o.count("in_progress"), o.count("completed"), o.count("requeued"), o.count("lost"),
                   o.count("doubled"))


@dataclass(frozen=True)
class Drain:
    """One reload of the app server (from the deploy log) and the requests it had in
    flight: how many completed and how many it cut (reset, or 502/503/504 from the
    proxy), each cut one listed with `why`. `started_s` is after t0."""

    action: str
    release: str | None
    started_s: float | None
    duration_s: float
    in_flight: int
    completed: int
    cut: int
    failed_otherwise: int
    cut_requests: tuple[CutRequest, ...]
    why: str
    jobs: DrainedJobs | None = None  # None: the app logs no job events

    def to_json(self) -> Json:
        return {"action": self.action, "release": self.release, "started_s": self.started_s,
                "duration_s": self.duration_s, "in_flight": self.in_flight, "completed": self.completed,
                "cut": self.cut, "failed_otherwise": self.failed_otherwise,
                "cut_requests": [c.to_json() for c in self.cut_requests], "why": self.why,
                "jobs": None if self.jobs is None else self.jobs.to_json()}

    @classmethod
    def from_json(cls, data: object, key: str) -> Drain:
        o = _Obj(data, key)
        jobs = o.opt_table("jobs")
        return cls(o.text("action"), o.opt_text("release"), o.opt_number("started_s"), o.number("duration_s"),
                   o.count("in_flight"), o.count("completed"), o.count("cut"), o.count("failed_otherwise"),
                   tuple(CutRequest.from_json(c.data, c.key) for c in o.tables("cut_requests")),
                   o.opt_text("why") or "", None if jobs is None else DrainedJobs.from_json(jobs.data, jobs.key))


@dataclass(frozen=True)
class Result:
    """One rehearsal's result; times are seconds after t0, timestamps RFC 3339 in UTC.

    `target` is the app's name. `objectives` is written as the schema-1 key `targets`.
    """

    schema: int
    run_id: str
    scenario: str
    description: str | None
    target: str
    outcome: Outcome
    reason: str | None
    started_at: str
    finished_at: str
    t0: str | None
    releases: Releases
    times: Times
    durations: Durations
    requests: Requests
    jobs: Jobs | None
    recovery: RecoveryDone
    detection: Detection
    objectives: tuple[ObjectiveResult, ...]
    gaps: tuple[Gap, ...]
    steps: tuple[Step, ...]
    hygiene: Hygiene | None
    environment: EnvironmentFacts
    regression_budget: RegressionBudget | None = None
    incident: Incident = Incident()
    plan: PlanResult | None = None  # a scenario with a [plan]: its steps and matrix
    rounds: tuple[RoundResult, ...] = ()  # a flag fault: each round and how it was mitigated
    drains: tuple[Drain, ...] = ()  # each app-server reload under load and what it did to requests in flight
    lint: Lint | None = None  # the migrations the run applied, linted; None before the lint existed
    schema_checks: tuple[SchemaCheck, ...] = ()  # one per database rollback: did the schema come back?
    load_lost: LoadLostFact | None = None  # the load generator stopped mid-run: nothing after it is judged

    @property
    def started_ts(self) -> float:
        return parse_ts(self.started_at)

    @property
    def finished_ts(self) -> float:
        return parse_ts(self.finished_at)

    @property
    def t0_ts(self) -> float | None:
        return None if self.t0 is None else parse_ts(self.t0)

    def objective(self, name: str) -> ObjectiveResult | None:
        return next((o for o in self.objectives if o.name == name), None)

    def to_json(self) -> Json:
        """The result.json object, keys in the file's order."""
        return {
            "schema": self.schema,
            "run_id": self.run_id,
            "scenario": self.scenario,
            "description": self.description,
            "target": self.target,
            "outcome": str(self.outcome),
            "reason": self.reason,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "t0": self.t0,
            "releases": self.releases.to_json(),
            "times": self.times.to_json(),
            "durations": self.durations.to_json(),
            "requests": self.requests.to_json(),
            "jobs": None if self.jobs is None else self.jobs.to_json(),
            "recovery": self.recovery.to_json(),
            "detection": self.detection.to_json(),
            "targets": [o.to_json() for o in self.objectives],
            "gaps": [g.to_json() for g in self.gaps],
            "steps": [s.to_json() for s in self.steps],
            "hygiene": None if self.hygiene is None else self.hygiene.to_json(),
            "environment": self.environment.to_json(),
            "regression_budget": None if self.regression_budget is None else self.regression_budget.to_json(),
            "incident": self.incident.to_json(),
            "plan": None if self.plan is None else self.plan.to_json(),
            "rounds": [r.to_json() for r in self.rounds],
            "drains": [d.to_json() for d in self.drains],
            "lint": None if self.lint is None else self.lint.to_json(),
            "schema_checks": [c.to_json() for c in self.schema_checks],
            "load_lost": None if self.load_lost is None else self.load_lost.to_json(),
        }

    @classmethod
    def from_json(cls, data: object) -> Result:
        """A result from a result.json object of any schema up to `SCHEMA`.

        Raises ResultFormatError naming the key when a value has the wrong type or a key
        every schema-1 file has is missing.
        """
        o = _Obj(data)
        schema = o.count("schema")
        if not 1 <= schema <= SCHEMA:
            raise ResultFormatError("schema", f"{schema} is not a schema this gameday reads (1 to {SCHEMA})")
        outcome = o.text("outcome")
        if outcome not in {o.value for o in Outcome}:
            raise ResultFormatError("outcome", f"must be one of {', '.join(Outcome)}, got {outcome!r}")
        jobs, hygiene, budget = o.opt_table("jobs"), o.opt_table("hygiene"), o.opt_table("regression_budget")
        environment, incident = o.opt_table("environment"), o.opt_table("incident")
        plan, lint, lost = o.opt_table("plan"), o.opt_table("lint"), o.opt_table("load_lost")
        return cls(
            schema=schema,
            run_id=o.text("run_id"),
            scenario=o.text("scenario"),
            description=o.opt_text("description"),
            target=o.text("target"),
            outcome=Outcome(outcome),
            reason=o.opt_text("reason"),
            started_at=o.timestamp("started_at"),
            finished_at=o.timestamp("finished_at"),
            t0=o.opt_timestamp("t0"),
            releases=Releases.from_json(o.data.get("releases") or {}),
            times=Times.from_json(o.table("times").data),
            durations=Durations.from_json(o.table("durations").data),
            requests=Requests.from_json(o.table("requests").data),
            jobs=None if jobs is None else Jobs.from_json(jobs.data),
            recovery=RecoveryDone.from_json(o.table("recovery").data),
            detection=Detection.from_json(o.table("detection").data),
            objectives=tuple(ObjectiveResult.from_json(t.data, t.key) for t in o.tables("targets")),
            gaps=tuple(Gap.from_json(g.data, g.key) for g in o.tables("gaps")),
            steps=tuple(Step.from_json(s.data, s.key) for s in o.tables("steps")),
            hygiene=None if hygiene is None else Hygiene.from_json(hygiene.data),
            environment=EnvironmentFacts() if environment is None else EnvironmentFacts.from_json(environment.data),
            regression_budget=None if budget is None else RegressionBudget.from_json(budget.data),
            incident=Incident() if incident is None else Incident.from_json(incident.data),
            plan=None if plan is None else PlanResult.from_json(plan.data),
            rounds=tuple(RoundResult.from_json(r.data, r.key) for r in o.tables("rounds")),
            drains=tuple(Drain.from_json(d.data, d.key) for d in o.tables("drains")),
            lint=None if lint is None else Lint.from_json(lint.data),
            schema_checks=tuple(SchemaCheck.from_json(c.data, c.key) for c in o.tables("schema_checks")),
            load_lost=None if lost is None else LoadLostFact.from_json(lost.data),
        )


def _not_json(constant: str) -> object:
    raise ValueError(f"{constant} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is out of range")
    return value


def _bounded(text: str) -> int:
    if len(text.lstrip("-")) > 18:
        raise ValueError(f"{text[:40]}… is out of range")
    return int(text)


def read_result(path: Path) -> Result:
    """The result in a result.json file. Raises InputError naming the file (and the key)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_not_json, parse_float=_finite,
                          parse_int=_bounded)
    except FileNotFoundError:
        raise InputError(str(path), None, "no such file") from None
    except OSError as exc:
        raise InputError(str(path), None, f"cannot be read ({exc.strerror})") from None
    except RecursionError:
        raise InputError(str(path), None, "nests its values too deeply to be a result") from None
    except ValueError as exc:
        raise InputError(str(path), None, f"is not valid JSON: {exc}") from None
    try:
        return Result.from_json(data)
    except ResultFormatError as exc:
        raise InputError(str(path), exc.key, exc.problem) from None
