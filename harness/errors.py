"""The exceptions gameday raises: one root, each carrying what a user needs to act."""

from __future__ import annotations

from collections.abc import Sequence


class HarnessError(Exception):
    """Root of everything gameday raises on purpose. `cli` turns it into one line."""

    exit_code = 2


def shorter(text: str, limit: int) -> str:
    """`text` cut in the middle to at most `limit` characters: a value of megabytes given
    as input is not echoed back whole, and the message keeps its end."""
    if len(text) <= limit:
        return text
    keep = limit - 1
    return f"{text[: keep * 2 // 3]}…{text[-(keep - keep * 2 // 3):]}"


class InputError(HarnessError):
    """A file or argument is wrong: names the file and the key."""

    def __init__(self, source: str, key: str | None, problem: str) -> None:
        where = f"{source}: {key}" if key else source
        super().__init__(f"{shorter(where, 300)}: {shorter(problem, 400)}")
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


class RecordingFailed(HarnessError):
    """gameday could not write what it recorded (a full disk, a read-only reports
    directory): names the path. `result` is the run's result when it was measured but
    could not be written, for the CLI to print instead."""

    def __init__(self, path: str, problem: str, result: object | None = None) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.result = result
