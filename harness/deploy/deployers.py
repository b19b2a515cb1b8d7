"""The deployers gameday knows, by the name a target file gives them (`deploy.tool`).

Adding one is a module in this package and a line here.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.config.target import Target
from harness.deploy import Deployer
from harness.deploy.builtin import BuiltinDeployer
from harness.deploy.commands import CommandsDeployer
from harness.environment import Environment

DEPLOYERS: dict[str, Callable[[Environment, Target], Deployer]] = {
    "builtin": lambda environment, target: BuiltinDeployer(environment),
    "commands": lambda environment, target: CommandsDeployer(environment, target.deploy, target.run),
}


def deployer_for(target: Target) -> Callable[[Environment], Deployer]:
    """The target's deployer, for the stack: a function of the run's environment."""
    return lambda environment: DEPLOYERS[target.deploy.tool](environment, target)
