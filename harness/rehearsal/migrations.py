"""The target's schema migrations (`[migrations]` in its target.toml): the ones a
rehearsal applies, linted with squawk before the fault; the ones the database has
applied that no live release knows, for hygiene; and schema fingerprints taken with
`pg_dump --schema-only` on the web host, for the clean-round-trip check."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.config.scenario import Scenario
from harness.config.target import Target
from harness.environment import Environment
from harness.errors import HarnessError, StagingError
from harness.results.fingerprint import statements
from harness.results.lint import LintReportError, findings
from harness.results.model import Lint
from harness.results.timeline import Event, Timeline

# Where the host keeps the database credentials the app and its migrations use.
SHARED_ENV = "shared/.env"
LINT_TIMEOUT_S = 60.0


def applied_by(scenario: Scenario) -> list[str]:
    """The releases a rehearsal deploys after its start release, in order."""
    if scenario.plan is not None:
        return [step.release for step in scenario.plan.steps]
    return [scenario.fault.release] if scenario.fault.release else []


def migration_ids(target: Target, release: str) -> dict[str, str]:
    """The release's migrations: id → path inside the release (a file whose name holds no
    id by `id_pattern` is its own id, its path)."""
    paths = target.migrations.paths(target.source.files(release))
    return {target.migrations.id_of(path) or path: path for path in paths}


def new_migrations(target: Target, releases: list[str], start: str) -> list[tuple[str, str]]:
    """(release, path) of each migration file the releases bring that the start release
    (or an earlier one of them) does not have, by migration id, in deploy order."""
    known = set(migration_ids(target, start))
    found = []
    for release in releases:
        for mid, path in migration_ids(target, release).items():
            if mid not in known:
                known.add(mid)
                found.append((release, path))
    return found


def squawk() -> str | None:
    """The squawk binary: beside this Python's (the squawk-cli wheel installs it there), or on PATH."""
    beside = Path(sys.executable).parent / "squawk"
    return str(beside) if beside.is_file() else shutil.which("squawk")


def lint(scenario: Scenario, pg_version: str | None) -> Lint:
    """squawk's findings on the SQL migrations the rehearsal applies (`applied_by`), for
    PostgreSQL `pg_version` (e.g. "15.14"). Never raises: a lint that cannot run is a
    `Lint` with no tool and a note saying why."""
    target = scenario.target
    if target.migrations.files is None:
        return Lint(None, (), (), "the target does not say where its migrations are ([migrations] files)")
    try:
        files = new_migrations(target, applied_by(scenario), scenario.start_release)
    except (HarnessError, ValueError, OSError) as exc:
        return Lint(None, (), (), f"could not read the releases' migrations: {exc}")
    sql = [(release, path) for release, path in files if path.endswith(".sql")]
    binary = squawk()
    if binary is None:
        return Lint(None, (), (), "squawk is not installed (pip install squawk-cli)")
    try:
        version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False,
                                 timeout=LINT_TIMEOUT_S).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Lint(None, (), (), f"squawk did not run: {exc}")
    if not sql:
        return Lint(version or "squawk", (), ())
    with tempfile.TemporaryDirectory(prefix="gameday-lint-") as tmp:
        where: dict[str, tuple[str, str]] = {}
        for release, path in sql:
            local = Path(tmp) / release / path
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(target.source.files(release)[path])
            where[str(local)] = (release, path)
        argv = [binary, "--reporter", "json"]
        if pg_version:
            argv += ["--pg-version", pg_version]
        try:
            done = subprocess.run(argv + list(where), capture_output=True, text=True, check=False,
                                  timeout=LINT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return Lint(version, (), (), f"squawk ran over {LINT_TIMEOUT_S:g}s")
        except OSError as exc:
            return Lint(version, (), (), f"squawk did not run: {exc}")
        if done.returncode not in (0, 1):  # 1: findings
            last = (done.stderr.strip().splitlines() or [f"exited {done.returncode}"])[-1]
            return Lint(version, (), (), f"squawk failed: {last}")
        try:
            found = findings(done.stdout, where)
        except LintReportError as exc:
            return Lint(version, (), (), str(exc))
    return Lint(version or "squawk", tuple(f"{r}:{p}" for r, p in sql), tuple(found))


def server_version(environment: Environment, target: Target) -> str | None:
    """The database server's version, e.g. "15.14", or None when it cannot be read."""
    try:
        rows = environment.sql(target.database, "SHOW server_version")
    except StagingError:
        return None
    return rows[0][0].split()[0] if rows and rows[0] else None


def with_credentials(environment: Environment, command: str) -> str:
    """`command` as a shell line that first loads the host's shared database credentials."""
    deploy_to = environment.access.deploy_to if environment.access is not None else "/srv/app"
    env_file = f"{deploy_to}/{SHARED_ENV}"
    return f"set -a; [ -f {env_file} ] && . {env_file}; set +a; {command}"


def fingerprint(environment: Environment, target: Target, timeline: Timeline, when: str,
                **fields: Any) -> list[str] | None:
    """The schema's normalised statements (`harness.results.fingerprint`), recorded as a
    `schema_fingerprinted` event `when` ("before" the fault, "after db rollback"); None,
    recorded with the reason, when pg_dump fails."""
    result = environment.exec(["sh", "-c", with_credentials(
        environment, f"pg_dump --schema-only --no-owner --no-privileges --dbname={shlex.quote(target.database)}")])
    if not result.ok:
        timeline.record(Event.SCHEMA_FINGERPRINTED, when=when, statements=None,
                        detail=result.last_line()[-300:], **fields)
        return None
    found = statements(result.stdout)
    timeline.record(Event.SCHEMA_FINGERPRINTED, when=when, statements=found, **fields)
    return found


def unknown_applied(environment: Environment, target: Target, live: str | None) -> list[str]:
    """Migration ids the database has applied that the live release has no file for
    (`[migrations] applied_sql` and `files`); empty without them or a live release."""
    if target.migrations.applied_sql is None or target.migrations.files is None or live is None:
        return []
    try:
        known = migration_ids(target, live)
    except (HarnessError, KeyError, ValueError, OSError):
        return []
    rows = environment.sql(target.database, target.migrations.applied_sql)
    return [row[0] for row in rows if row and row[0] and row[0] not in known]


INVALID_INDEXES_SQL = "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid ORDER BY 1"


def leftovers(environment: Environment, target: Target, live: str | None) -> tuple[list[str], list[str]]:
    """Hygiene's database findings, one line each, and the checks that ran: indexes left
    INVALID (an interrupted `CREATE INDEX CONCURRENTLY`), and applied migrations the live
    release (its name, not its directory) does not know, so no `down` of it can revert
    them. A check that could not run is left out of the checks, not reported as a fault."""
    findings: list[str] = []
    checks: list[str] = []
    try:
        rows = environment.sql(target.database, INVALID_INDEXES_SQL)
    except StagingError:
        rows = None
    if rows is not None:
        checks.append("no INVALID index")
        findings += [f"index {name} is INVALID (an interrupted CREATE INDEX CONCURRENTLY leaves one): "
                     "drop and recreate it" for (name, *_) in rows if name]
    if target.migrations.applied_sql is None or target.migrations.files is None or live is None:
        return findings, checks
    try:
        unknown = unknown_applied(environment, target, live)
    except StagingError:
        return findings, checks
    checks.append("no applied migration the live release does not know")
    if unknown:
        findings.append(f"the database has applied migration{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}, "
                        f"which the live release {live} does not know: the schema is ahead of the code")
    return findings, checks
