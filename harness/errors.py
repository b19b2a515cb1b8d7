"""The exceptions gameday raises: one root, each carrying what a user needs to act."""

from __future__ import annotations

from collections.abc import Sequence


class HarnessError(Exception):
    """Root of everything gameday raises on purpose. `cli` turns it into one line."""

    exit_code = 2


class InputError(HarnessError):
    """A file or argument is wrong: names the file and the key."""

    def __init__(self, source: str, key: str | None, problem: str) -> None:
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")
        self.source = source
        self.key = key
        self.problem = problem


class DockerUnavailable(HarnessError):
    """The Docker daemon cannot be reached."""


class BaseImageError(HarnessError):
    """The base image is missing and cannot be made."""


class StagingError(HarnessError):
    """The replica could not be built, started, found or changed."""

    def __init__(
        self,
        message: str,
        *,
        container: str | None = None,
        command: Sequence[str] | None = None,
        exit_status: int | None = None,
        log_tail: Sequence[str] = (),
    ) -> None:
        parts = [message]
        if container:
            parts.append(f"container {container}")
        if command:
            parts.append(f"command {' '.join(command)!r}")
        if exit_status is not None:
            parts.append(f"exit status {exit_status}")
        if log_tail:
            parts.append("last lines: " + " | ".join(log_tail))
        super().__init__("; ".join(parts))
        self.container = container
        self.command = list(command) if command else None
        self.exit_status = exit_status
        self.log_tail = list(log_tail)


class LoadLost(HarnessError):
    """The load generator stopped making load mid-run: no verdict can rest on what followed."""


class DeployToolError(StagingError):
    """The deploy tool in the web host refused or failed; its own message comes first."""

    def __init__(self, message: str, *, command: Sequence[str], exit_status: int) -> None:
        super().__init__(message, command=command, exit_status=exit_status)
        # The tool exits 2 for bad input (unknown release, locked) and 1 when a step failed.
        self.exit_code = 2 if exit_status == 2 else 1
        self.args = (message,)
