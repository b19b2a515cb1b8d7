"""The process managers gameday knows, by the name a target file gives them.

Adding one is a module in this package and a line here.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.environment import Environment, ProcessManager
from harness.environment.supervisord import Supervisord
from harness.environment.systemd import Systemd

# Keyed by harness.config.target.PROCESS_MANAGERS, the names a target file may give.
PROCESS_MANAGERS: dict[str, Callable[[Environment], ProcessManager]] = {
    "supervisord": Supervisord,
    "systemd": Systemd,
}
