"""The house's own rules, checked on its source: what the rehearsal and `results/` may
know. A process manager's or a deployer's words live in its own module
(`harness/environment/`, `harness/deploy/`), so a new one is one module plus one
registry line, and the judgement never depends on which one ran."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[2] / "harness"
# Names and words that belong to one process manager or one deployer.
VOCABULARY = re.compile(
    r"supervisor(d|ctl)|systemd|systemctl|reset-failed|StartLimit|(?-i:\bFATAL\b|\bBACKOFF\b)|active \(running\)"
    r"|capistrano|\bcap (deploy|staging)|fabric|ansible|\"builtin\"|\"commands\"|deploy\.tool",
    re.IGNORECASE)


def sources(*packages: str) -> list[Path]:
    return sorted(path for package in packages for path in (HARNESS / package).rglob("*.py"))


@pytest.mark.parametrize("path", sources("rehearsal", "results"), ids=lambda p: str(p.relative_to(HARNESS)))
def test_the_rehearsal_and_results_know_no_managers_or_deployers_words(path: Path) -> None:
    found = [f"{path.name}:{n}: {line.strip()}" for n, line in enumerate(path.read_text().splitlines(), 1)
             if VOCABULARY.search(line)]
    assert found == []


def test_the_vocabulary_check_can_fail() -> None:
    # The words it looks for are where they belong.
    assert any(VOCABULARY.search(p.read_text()) for p in sources("environment"))
    assert VOCABULARY.search('if target.deploy.tool == "commands":')


@pytest.mark.parametrize("path", sources("rehearsal", "results"), ids=lambda p: str(p.relative_to(HARNESS)))
def test_the_rehearsal_and_results_never_branch_on_a_fault_kinds_name(path: Path) -> None:
    kinds = "deploy|errors|flag|plan|process"
    branching = re.compile(rf"\.kind\s*(==|!=|in)\s*[(\"']|[\"']({kinds})[\"']\s*(==|!=)\s*\S*\.kind")
    found = [f"{path.name}:{n}: {line.strip()}" for n, line in enumerate(path.read_text().splitlines(), 1)
             if branching.search(line)]
    assert found == []


def test_every_fault_kind_is_one_module_and_one_registry_line() -> None:
    from harness.rehearsal.faults.kinds import KINDS

    faults = HARNESS / "rehearsal" / "faults"
    modules = {p.stem for p in faults.glob("*.py")} - {"__init__", "base", "kinds"}
    assert set(KINDS) == modules
    registry = (faults / "kinds.py").read_text()
    for name, kind in KINDS.items():
        assert type(kind).__module__ == f"harness.rehearsal.faults.{name}"
        assert registry.count(f"    {type(kind).__name__}(),\n") == 1
