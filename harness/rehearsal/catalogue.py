"""Scenarios, loaded with the fault kinds this gameday has (`faults.kinds`): what the CLI,
the nightly and the report's rebuild use to read a scenario file or a built-in name."""

from __future__ import annotations

from pathlib import Path

from harness.config import scenario as config
from harness.config.scenario import Scenario, scenario_files
from harness.rehearsal.faults.kinds import PARSERS

__all__ = ["find_scenario", "load_scenario", "scenario_files"]


def load_scenario(path: Path, tools_required: bool = True) -> Scenario:
    """The scenario in `path` (`harness.config.scenario.load_scenario`, with every kind)."""
    return config.load_scenario(path, PARSERS, tools_required)


def find_scenario(name_or_path: str, tools_required: bool = True) -> Scenario:
    """A built-in scenario by name, or any scenario file by path, with every kind."""
    return config.find_scenario(name_or_path, PARSERS, tools_required)
