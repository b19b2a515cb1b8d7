"""A command's result made on a thread, so the rehearsal can watch a deploy and act while
it runs: `poll` until the result is there. Used by the built-in deploy tool's deploys and
by a team's commands on this machine."""

from __future__ import annotations

import threading
from collections.abc import Callable

from harness.environment import CommandResult
from harness.errors import HarnessError


class Background:
    """Runs `work` on a daemon thread; its `CommandResult`, or the error that kept it from
    running (a crash in the thread reaches the caller as a `HarnessError`, never vanishes)."""

    def __init__(self, what: str, work: Callable[[], CommandResult]) -> None:
        self.what = what
        self._work = work
        self._result: CommandResult | None = None
        self._error: HarnessError | None = None
        self._done = threading.Event()
        threading.Thread(target=self._run, name=what, daemon=True).start()

    def _run(self) -> None:
        try:
            self._result = self._work()
        except HarnessError as exc:
            self._error = exc
        except Exception as exc:
            self._error = HarnessError(f"{self.what} could not run: {type(exc).__name__}: {exc}")
        finally:
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def poll(self) -> CommandResult | None:
        """The result once the work ended, else None; raises the error that stopped it."""
        if not self._done.is_set():
            return None
        if self._error is not None:
            raise self._error
        return self._result
