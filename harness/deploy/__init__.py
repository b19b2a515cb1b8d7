"""The deployer seam: how a release goes live and comes back.

A deployer deploys a release (as a command the rehearsal can watch and interrupt), rolls
back code, optionally rolls back the database, and lists releases with the one `current`
points at. The built-in deploy tool (`harness.deploy.builtin`) is the first member; a
team's own commands are another. The rehearsal times recovery from what is live, never
from a deployer's exit status or log alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from harness.environment import CommandResult
from harness.results.deploylog import DeployStep


@dataclass(frozen=True)
class Release:
    """One release directory on the host: its directory name, release name and marks."""

    release_dir: str
    name: str
    current: bool = False
    bad: bool = False


@dataclass(frozen=True)
class Releases:
    """The host's releases, oldest first, and the directory `current` points at (or None)."""

    current: str | None
    releases: tuple[Release, ...] = ()

    def name_of(self, release_dir: str | None) -> str | None:
        return next((r.name for r in self.releases if r.release_dir == release_dir), None)


def release_dir_of(link: str) -> str | None:
    """The release directory a `readlink current` names (`/srv/app/releases/X` → `X`), or None."""
    return link.strip().rstrip("/").rsplit("/", 1)[-1] or None


class RunningCommand(Protocol):
    """A deploy in progress: the rehearsal polls it, and may stop it as an operator would."""

    @property
    def argv(self) -> tuple[str, ...]: ...

    def poll(self) -> CommandResult | None:
        """The result once the command has ended, else None.

        Raises the `HarnessError` that kept the command from running at all.
        """
        ...

    def stop(self) -> str:
        """Interrupt the command (SIGTERM, as Ctrl-C would) and wait briefly for it to end;
        returns what was done, in one line, for the timeline."""
        ...


class Deployer(Protocol):
    """Deploy, rollback, db rollback and releases, as the team would run them."""

    name: str
    has_gate: bool  # whether a deploy health-checks the release before the swap (`gate=True`)

    def start_deploy(self, release: str, *, gate: bool, killed_after: str | None = None) -> RunningCommand:
        """Start deploying `release`; `gate=False` skips a health gate where there is one.
        `killed_after` names a step of the built-in tool after which its deploy dies by
        SIGKILL; other deployers refuse it (ValueError)."""
        ...

    def rollback(self, *, db: bool = False) -> CommandResult:
        """Point `current` back at the previous good release (and revert its schema with `db`)."""
        ...

    def db_rollback(self) -> CommandResult:
        """Revert the schema of the release last abandoned (rolled back from, or aborted)."""
        ...

    def releases(self) -> Releases: ...

    def current(self) -> str | None:
        """The release directory `current` points at now (`readlink`), or None: cheap,
        for deciding what is live while a deploy runs."""
        ...

    def steps(self) -> Sequence[DeployStep]:
        """The deployer's own step log, if it keeps one; extra detail for the report."""
        ...

    def command_line(self, action: str) -> str:
        """How a person types `action` (`rollback`, `rollback --db`, `db rollback`) with this
        deployer; it names the action in the result's `recovery.actions`."""
        ...


__all__ = ["Deployer", "Release", "Releases", "RunningCommand", "release_dir_of"]
