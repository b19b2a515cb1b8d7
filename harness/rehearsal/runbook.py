"""The runbook: one rehearsal, start to finish. It reads as a table of contents; the work
is in staging, load, faults, watch, phases and result."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import __version__
from harness.config.scenario import Scenario
from harness.environment.images import Images
from harness.environment.replica import Replica, Staging, new_run_id, owner_labels, up
from harness.errors import HarnessError
from harness.rehearsal import faults, load, phases
from harness.rehearsal.watch import Watch
from harness.reporting.report import write_report
from harness.results import junit
from harness.results.budget import Budget, history
from harness.results.budget import apply as apply_budget
from harness.results.measure import Observed, measure, write_json
from harness.results.records import RecordTail, read_records
from harness.results.timeline import Clock, Timeline, read_jsonl

REPORTS_LABEL = "gameday.reports"
DEPLOY_LOG = "/srv/app/shared/log/deploy.jsonl"
PROJECT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    """One rehearsal's identity, files and what it has seen so far."""

    scenario: Scenario
    run_id: str
    run_dir: Path
    timeline: Timeline
    started: float
    notes: phases.Notes = field(default_factory=phases.Notes)
    t0: float | None = None
    releases: dict[str, str | None] = field(default_factory=dict)
    deploy_log: list[dict[str, Any]] = field(default_factory=list)
    jobs: dict[str, int] | None = None
    hygiene: dict[str, Any] | None = None
    allow_remote: bool = False
    outcome: str | None = None
    reason: str | None = None

    @property
    def records(self) -> Path:
        return self.run_dir / "requests.jsonl"


def rehearse(
    scenario: Scenario,
    staging: Staging,
    images: Images,
    reports: Path,
    *,
    operator: bool = False,
    budget: Budget | None = None,
    allow_remote: bool = False,
    say: Callable[[str], None] = print,
    progress: Callable[[str], None] | None = None,
    clock: Clock = time.time,
) -> tuple[Path, dict[str, Any]]:
    """Run `scenario` once; returns the run directory and its result, always written."""
    run_id = new_run_id(scenario.name, datetime.fromtimestamp(clock(), UTC))
    run_dir = reports / run_id
    run_dir.mkdir(parents=True)
    run = Run(scenario, run_id, run_dir, Timeline(run_dir / "timeline.jsonl", clock), clock(),
              allow_remote=allow_remote)
    write_json(run_dir / "run.json", {"run_id": run_id, "scenario": scenario.name,
                                      "scenario_path": str(scenario.path), "started": run.started})
    try:
        with replica_for(run, staging, images) as replica:
            with load.running(load_plan(run, replica)), watching(run, staging, replica, progress) as watch:
                phases.baseline(watch, scenario)
                with faults.injected(staging, replica, fault_plan(run, clock), run.timeline) as injection:
                    run.t0 = injection.t0
                    if operator:
                        phases.operate(watch, scenario, replica, run.notes, say, operator_log(run))
                    else:
                        phases.detect(watch, scenario, injection)
                        phases.recover(watch, staging, replica, scenario, injection, run.notes)
                    phases.verify(watch, scenario)
            run.jobs = phases.drain(staging, replica, scenario, run.started, run.timeline)
    except phases.BaselineFailed as exc:
        run.outcome, run.reason = "aborted", str(exc)
    except KeyboardInterrupt:
        run.outcome, run.reason = "aborted", "interrupted"
        raise
    except HarnessError as exc:
        run.outcome, run.reason = "error", str(exc)
    finally:
        result = finish(run, images, budget)
    return run_dir, result


@contextmanager
def replica_for(run: Run, staging: Staging, images: Images) -> Iterator[Replica]:
    """The replica for this run; its deploy log and releases are read before teardown."""
    scenario = run.scenario
    labels = {REPORTS_LABEL: str(run.run_dir.resolve()), **owner_labels("run")}
    with up(staging, scenario.target, images, run.run_id, scenario.name, scenario.start_release, labels) as replica:
        run.timeline.record("replica_started", url=replica.url, release=scenario.start_release)
        run.releases["before"] = staging.releases(replica).get("current")
        try:
            yield replica
        finally:
            # Read what only the replica knows before it goes; a failure here must not
            # stop the teardown.
            try:
                run.deploy_log = phases.parse_deploy_log(staging.read_file(replica, DEPLOY_LOG))
                run.releases["deployed"] = phases.deployed_release(run.deploy_log, run.t0)
                run.releases["after"] = staging.releases(replica).get("current")
                run.hygiene = phases.hygiene(staging, replica, scenario, run.timeline, run.allow_remote)
            except HarnessError as exc:
                run.timeline.record("replica_unreadable", detail=str(exc))
            run.timeline.record("replica_removing")


@contextmanager
def watching(run: Run, staging: Staging, replica: Replica, progress: Callable[[str], None] | None) -> Iterator[Watch]:
    with Watch(run.scenario, staging, replica, run.timeline, RecordTail(run.records), progress,
               allow_remote=run.allow_remote) as watch:
        yield watch


def load_plan(run: Run, replica: Replica) -> load.LoadPlan:
    p = run.scenario.phases
    budget = p.baseline_s + p.detect_timeout_s + p.recover_timeout_s + p.stable_s + 300
    return load.plan(run.scenario.load, replica.url, run.run_dir, budget, run.allow_remote)


def fault_plan(run: Run, clock: Clock) -> faults.FaultPlan:
    return faults.plan(run.scenario.fault, run.scenario.target.run.error_switch, clock())


def operator_log(run: Run) -> Callable[[], list[dict[str, Any]]]:
    path = run.run_dir / "operator.jsonl"
    return lambda: list(read_jsonl(path))


def environment(run: Run, images: Images) -> dict[str, Any]:
    try:
        revision = subprocess.run(["git", "-C", str(PROJECT), "rev-parse", "--short", "HEAD"],
                                  capture_output=True, text=True, check=False).stdout.strip() or None
    except OSError:
        revision = None
    load_settings = run.scenario.load
    return {
        "gameday_version": __version__,
        "git_revision": revision,
        "images": {"web": images.web, "db": images.db},
        "load": {"users": load_settings.users, "spawn_rate": load_settings.spawn_rate,
                 "locustfile": load_settings.locustfile.name,
                 "latency_limit_ms": load_settings.latency_limit_s * 1000},
    }


def finish(run: Run, images: Images, budget: Budget | None) -> dict[str, Any]:
    observed = Observed(
        run_id=run.run_id, started_at=run.started, finished_at=time.time(), t0=run.t0,
        timeline=run.timeline.events, deploy_log=run.deploy_log, releases=run.releases, jobs=run.jobs,
        actions=run.notes.actions, code_rollback_recovered=run.notes.code_rollback_recovered,
        outcome=run.outcome, reason=run.reason, environment=environment(run, images), hygiene=run.hygiene,
    )
    result = measure(run.scenario, observed, read_records(run.records))
    if budget is not None:
        past = history(run.run_dir.parent, run.scenario.name, result["started_at"], budget.runs)
        result = apply_budget(result, past, budget)
    write_json(run.run_dir / "result.json", result)
    junit.write(run.run_dir / "junit.xml", [junit.testsuite(result)])
    run.timeline.record("result_written", outcome=result["outcome"])
    run.timeline.close()
    write_report(run.run_dir)
    return result
