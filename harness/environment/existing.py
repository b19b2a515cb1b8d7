"""An environment that exists already: a team's staging VM, or a platform app on Render or
Fly, given by its URL. gameday has no shell on it, makes no container and removes
nothing: load and probes go to the URL, every change is the target's deploy commands, and
the database is reached with psql on this machine only when the target gives a DSN.

What needs the host (files, process states, pg_dump) is not there: commands answer as a
command that could not run (exit 127), which the rehearsal records as not checked.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from harness.config.target import Target
from harness.environment import Access, CommandResult
from harness.errors import InputError, StagingError

NO_SHELL = "an existing environment gives gameday no shell: only its URL, the deploy commands and a DSN"
SQL_TIMEOUT_S = 30.0


class ExistingEnvironment:
    """The `Environment` of a target with `[environment]`."""

    def __init__(self, run_id: str, url: str, dsn: str | None = None) -> None:
        self._run_id = run_id
        self._url = url
        self.dsn = dsn

    @property
    def run_id(self) -> str:
        return self._run_id

    @property
    def url(self) -> str:
        return self._url

    def exec(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> CommandResult:
        return CommandResult(tuple(argv), 127, "", NO_SHELL)

    def read_file(self, path: str) -> str:
        return ""

    def write_file(self, path: str, text: str) -> None:
        raise StagingError(f"cannot write {path}: {NO_SHELL}")

    def remove_file(self, path: str) -> None:
        raise StagingError(f"cannot remove {path}: {NO_SHELL}")

    def sql(self, database: str, query: str) -> list[list[str]]:
        """Rows of `query`, through psql on this machine with the target's DSN (the DSN
        names the database; `database` is not used). Raises StagingError without a DSN."""
        if self.dsn is None:
            raise StagingError("no database access: the target gives no environment.dsn")
        try:
            proc = subprocess.run(["psql", self.dsn, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", query],
                                  capture_output=True, text=True, timeout=SQL_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StagingError(f"psql could not run: {exc}") from exc
        if proc.returncode != 0:
            raise StagingError(f"psql exited {proc.returncode}", log_tail=proc.stderr.splitlines()[-3:])
        return [line.split("|") for line in proc.stdout.splitlines() if line]

    def pause_database(self, paused: bool) -> None:
        raise StagingError(f"cannot pause the database: {NO_SHELL}")

    @property
    def access(self) -> Access | None:
        return None

    def hygiene(self) -> list[str]:
        return []

    @property
    def hygiene_checks(self) -> tuple[str, ...]:
        return ()  # nothing on the host can be looked at


def served_release(url: str, version_path: str | None, release_header: str | None,
                   health_path: str, transport: httpx.BaseTransport | None = None) -> str | None:
    """The release the app says is live: the "release" of its version path's JSON, else the
    release header on its health answer; None when it does not answer or say."""
    try:
        with httpx.Client(base_url=url, timeout=5, transport=transport) as http:
            if version_path is not None:
                found = http.get(version_path).json().get("release")
                return str(found) if found else None
            assert release_header is not None
            header = http.get(health_path).headers.get(release_header)
            return None if header is None else str(header)
    except (httpx.HTTPError, ValueError, AttributeError):
        return None


class ExistingStage:
    """Provisions a rehearsal on the target's existing environment: nothing is made, so
    nothing is removed; `describe` names it for the result."""

    def __init__(self, target: Target) -> None:
        assert target.environment is not None
        self.target = target
        self.environment = target.environment

    def check(self) -> None:
        """Raises InputError when the DSN is given and psql is not installed."""
        if self.environment.dsn is not None and shutil.which("psql") is None:
            raise InputError(str(self.target.path), "environment.dsn",
                             "needs psql on this machine (Debian's postgresql-client)")

    @contextmanager
    def provision(self, run_id: str, scenario: str, run_dir: Path) -> Iterator[ExistingEnvironment]:
        yield ExistingEnvironment(run_id, self.environment.url, self.environment.dsn)

    def describe(self) -> dict[str, str]:
        return {"environment": self.environment.url, "deployer": self.target.deploy.tool,
                "process_manager": "not visible"}


class UnseenProcesses:
    """The process manager of an existing environment: gameday cannot see or act on it;
    there are no states to read, and the manual restart is the team's own."""

    name = "not visible"
    states_visible = False

    def __init__(self, environment: object = None) -> None:
        self.environment = environment

    def states(self) -> dict[str, str]:
        return {}

    def start(self, program: str) -> CommandResult:
        return CommandResult(("start", program), 127, "", NO_SHELL)

    def reload(self, program: str) -> CommandResult:
        return CommandResult(("reload", program), 127, "", NO_SHELL)

    def stop(self, program: str) -> CommandResult:
        return CommandResult(("stop", program), 127, "", NO_SHELL)

    def signal(self, program: str, signal: str) -> CommandResult:
        return CommandResult(("signal", signal, program), 127, "", NO_SHELL)

    def main_pid(self, program: str) -> int | None:
        raise StagingError(NO_SHELL)

    def restart_command(self, programs: Sequence[str]) -> str:
        return "(no shell on an existing environment)"

    def restart(self, programs: Sequence[str]) -> CommandResult:
        return CommandResult((self.restart_command(programs),), 127, "", NO_SHELL)

    def running(self, state: str) -> bool:
        return True

    def starting(self, state: str) -> bool:
        return False

    def gave_up(self, state: str) -> bool:
        return False

    def gave_up_for_good(self, state: str) -> bool:
        return False

    def refused(self, detail: str) -> str | None:
        return None


__all__ = ["ExistingEnvironment", "ExistingStage", "UnseenProcesses", "served_release"]
