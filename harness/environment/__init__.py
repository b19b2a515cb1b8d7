"""The environment seam: where the app runs and how gameday reaches it.

An environment gives the app's loopback URL, runs commands in the web host, reads and
writes its files, and runs SQL against the target's database. The Docker replica
(`harness.environment.replica`) is the first implementation; the rehearsal sees only the
protocols below, so unit tests hand it fakes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from harness.errors import StagingError


@dataclass(frozen=True)
class CommandResult:
    """A finished command: its argv, exit status and output (text)."""

    argv: tuple[str, ...]
    exit_status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def tail(self, count: int) -> list[str]:
        """The last `count` non-empty lines of stderr (else stdout), for a message or a report."""
        for text in (self.stderr, self.stdout):
            lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
            if lines:
                return lines[-count:]
        return []

    def last_line(self) -> str:
        """The last non-empty line of stderr (else stdout): what a person reads first."""
        for text in (self.stderr, self.stdout):
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            if lines:
                return lines[-1]
        return f"exited {self.exit_status}"


@dataclass(frozen=True)
class Access:
    """How a team's deploy commands reach the web host, as they would reach their VM: SSH
    on loopback as the deploy user with the run's own key, the deploy path, and a git URL
    the host can clone (the target's releases, one tag each)."""

    ssh_host: str
    ssh_port: int
    ssh_user: str
    ssh_key: str  # private key file on this machine
    known_hosts: str  # holds the web host's key, so host keys are checked
    ssh_config: str  # `ssh -F FILE gameday` reaches the host with all of the above
    deploy_to: str
    repo_url: str
    url: str

    def env(self) -> dict[str, str]:
        """The environment variables a team's commands get (README, "Your deploy tool")."""
        return {
            "GAMEDAY_SSH_HOST": self.ssh_host, "GAMEDAY_SSH_PORT": str(self.ssh_port),
            "GAMEDAY_SSH_USER": self.ssh_user, "GAMEDAY_SSH_KEY": self.ssh_key,
            "GAMEDAY_SSH_KNOWN_HOSTS": self.known_hosts, "GAMEDAY_SSH_CONFIG": self.ssh_config,
            "GAMEDAY_DEPLOY_TO": self.deploy_to, "GAMEDAY_REPO_URL": self.repo_url, "GAMEDAY_URL": self.url,
        }


class Environment(Protocol):
    """A running copy of the team's stack that gameday may act on."""

    @property
    def run_id(self) -> str: ...

    @property
    def url(self) -> str:
        """Base URL of the app's front door, on loopback (`http://127.0.0.1:PORT`)."""
        ...

    def exec(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> CommandResult:
        """Run a command in the web host and wait for it; a non-zero exit is a result, not an error.

        Raises `StagingError` when the command cannot be started at all.
        """
        ...

    def read_file(self, path: str) -> str:
        """A web-host file's text; empty when it does not exist."""
        ...

    def write_file(self, path: str, text: str) -> None:
        """Replace a web-host file atomically (write beside it, then rename)."""
        ...

    def remove_file(self, path: str) -> None: ...

    def sql(self, database: str, query: str) -> list[list[str]]:
        """Rows of `query` (psql `-At` output split on tabs); raises `StagingError` on failure."""
        ...

    def pause_database(self, paused: bool) -> None:
        """Freeze every process of the database (as SIGSTOP does), or continue them
        (`paused=False`). Raises `StagingError` where gameday cannot reach them."""
        ...

    @property
    def access(self) -> Access | None:
        """How the team's own deploy commands reach the web host, or None where they cannot."""
        ...

    def hygiene(self) -> list[str]:
        """What the environment itself shows wrong after a run (paused or stopped containers,
        SIGSTOPped processes), one line each; empty when clean."""
        ...

    @property
    def hygiene_checks(self) -> tuple[str, ...]:
        """What `hygiene` looks at, one short line each, for the result's list of checks."""
        ...


class ProcessManager(Protocol):
    """How the app server and the worker start, reload and stop, and their state."""

    name: str
    states_visible: bool  # False where gameday cannot see the programs (an existing environment)

    def states(self) -> dict[str, str]:
        """Program name → state in the manager's own words (supervisord: RUNNING, BACKOFF, FATAL…;
        systemd: "active (running)", "failed (Result: exit-code)"…)."""
        ...

    def start(self, program: str) -> CommandResult: ...

    def reload(self, program: str) -> CommandResult: ...

    def stop(self, program: str) -> CommandResult: ...

    def signal(self, program: str, signal: str) -> CommandResult:
        """Send `signal` (a name without SIG: KILL, TERM, USR2, STOP…) to the program's main
        process, as the manager knows it."""
        ...

    def main_pid(self, program: str) -> int | None:
        """The program's main process id, as the manager knows it; None when it runs none.
        Raises `StagingError` when the manager cannot be asked."""
        ...

    def restart_command(self, programs: Sequence[str]) -> str:
        """The manual fix for programs the manager may have given up on, as the shell line an
        operator would type in the web host: it starts them afresh, whatever their state."""
        ...

    def restart(self, programs: Sequence[str]) -> CommandResult:
        """Run `restart_command(programs)` in the web host."""
        ...

    def running(self, state: str) -> bool:
        """Whether a state from `states` means the program is up."""
        ...

    def starting(self, state: str) -> bool:
        """Whether a state from `states` means the program is still starting (not yet judged)."""
        ...

    def gave_up(self, state: str) -> bool:
        """Whether a state from `states` means the program is not serving and not about to
        (crashed and waiting to restart, given up, stopped)."""
        ...

    def gave_up_for_good(self, state: str) -> bool:
        """Whether a state from `states` means the manager will restart the program no more."""
        ...

    def refused(self, detail: str) -> str | None:
        """When `detail` (a failed command's last line) is this manager refusing to start a
        program, what to change, in the manager's own terms; None otherwise."""
        ...


def pid_answer(answer: CommandResult, asked: str) -> int | None:
    """A process manager's answer to "which pid?" (`asked`, for the message): a positive
    number, or None for 0 (it runs none). Raises `StagingError` for anything else."""
    text = answer.stdout.strip()
    if not text.isdigit():
        raise StagingError(f"`{asked}` did not answer a pid: {answer.last_line()[:120]}")
    return int(text) or None


__all__ = ["Access", "CommandResult", "Environment", "ProcessManager", "pid_answer"]
