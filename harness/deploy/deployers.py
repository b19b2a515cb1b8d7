"""The deployers gameday knows, by the name a target file gives them.

Adding one is a module in this package and a line here.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.deploy import Deployer
from harness.deploy.builtin import BuiltinDeployer
from harness.environment import Environment

DEPLOYERS: dict[str, Callable[[Environment], Deployer]] = {
    "builtin": BuiltinDeployer,
}
