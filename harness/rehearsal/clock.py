"""The rehearsal's one clock: wall time in epoch seconds, and a way to wait.

Every timestamp the rehearsal records comes from here, so unit tests hand it a fake clock
whose `sleep` advances time instantly, and never sleep themselves.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: `time.time` and `time.sleep`."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
