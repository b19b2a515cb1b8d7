"""Commands on the user's machine: started, watched, interrupted as a person would, and
never outliving gameday. Load (Locust) and a team's own deploy commands run this way."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from harness.environment import CommandResult, children
from harness.environment.background import Background
from harness.errors import HarnessError

INTERRUPT_WAIT_S = 15.0  # after Ctrl-C (SIGINT), then again after SIGTERM, before SIGKILL


class LocalCommand:
    """A shell command line running in its own process group, which ends with gameday
    (harness.environment.children); its output is collected.

    `argv` is `(line,)`: the command as the team wrote it. A command still running after
    `timeout_s` is interrupted and ends with the status it exits with.
    """

    def __init__(self, line: str, cwd: Path, env: Mapping[str, str], timeout_s: float) -> None:
        self.argv = (line,)
        self.timeout_s = timeout_s
        try:
            self.proc = children.start(
                ["/bin/sh", "-c", line], cwd=cwd, env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise HarnessError(f"could not start `{line}` in {cwd}: {exc.strerror or exc}") from exc
        self._running = Background(f"`{line}`", self._wait)

    def _wait(self) -> CommandResult:
        try:
            out, err = self.proc.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            self.interrupt()
            out, err = self.proc.communicate()
            err += f"\ngameday: interrupted after {self.timeout_s:g}s\n".encode()
        finally:
            children.ended(self.proc)
        # Killed by a signal: the status a shell shows (128 + the signal), as `$?` would.
        status = self.proc.returncode if self.proc.returncode >= 0 else 128 - self.proc.returncode
        return CommandResult(self.argv, status, out.decode(errors="replace"),
                             err.decode(errors="replace"))

    def poll(self) -> CommandResult | None:
        return self._running.poll()

    def wait(self) -> CommandResult:
        """Its result; an interrupt while waiting (Ctrl-C) stops the command too."""
        try:
            self._running.wait()
        except BaseException:
            self.stop()
            raise
        result = self.poll()
        assert result is not None
        return result

    def interrupt(self) -> str:
        """SIGINT to the command's process group, as Ctrl-C would; SIGTERM, then SIGKILL,
        if it does not end. Returns what was sent."""
        sent = []
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, signum)
            except ProcessLookupError:
                break
            sent.append(signal.Signals(signum).name)
            try:
                self.proc.wait(INTERRUPT_WAIT_S)
                break
            except subprocess.TimeoutExpired:
                continue
        children.ended(self.proc)  # what it left running in its group (an ssh, a background job) goes with it
        return ", then ".join(sent) or "nothing (it had ended)"

    def stop(self) -> str:
        if self._running.done:
            return "the deploy had already ended"
        started = time.monotonic()
        sent = self.interrupt()
        self._running.wait(INTERRUPT_WAIT_S)
        result = self._running.poll()
        status = result.exit_status if result is not None else None
        return (f"sent {sent} to the running deploy `{self.argv[0]}` (pid {self.proc.pid}); "
                f"it exited {status} after {time.monotonic() - started:.2f}s")
