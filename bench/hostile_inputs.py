"""The hostile-input suite run through the real command line, one `gameday` process per
input: every scenario, target and damaged-run case of tests/unit/test_hostile_inputs.py,
the broken scenarios its fuzz test generates, and run ids that are paths. For each it
counts what a user sees: exit 2 with one line, tracebacks, and leftovers (a reports
directory made for bad input, a file outside the run touched, a container).

Usage: python bench/hostile_inputs.py [--fuzz 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests.unit import test_hostile_inputs as cases  # noqa: E402
from tests.unit.test_report import make_run  # noqa: E402
from tests.unit.test_scenario_fuzz import broken_scenarios  # noqa: E402

GAMEDAY = [sys.executable, "-m", "harness"]


class Tally:
    def __init__(self) -> None:
        self.tried = self.one_line = self.tracebacks = self.leftovers = 0
        self.bad: list[str] = []

    def add(self, what: str, argv: list[str], left: Callable[[], bool], cwd: Path) -> None:
        env = {**os.environ, "DOCKER_HOST": cases.NO_DOCKER, "GAMEDAY_STATE_DIR": str(cwd / "state")}
        proc = subprocess.run([*GAMEDAY, *argv], capture_output=True, text=True, cwd=cwd, env=env, check=False,
                              timeout=120)
        self.tried += 1
        good = proc.returncode == 2 and proc.stderr.count("\n") == 1
        self.one_line += good
        self.tracebacks += "Traceback" in proc.stderr
        leftover = left()
        self.leftovers += leftover
        if not good or leftover:
            self.bad.append(f"{what}: exit {proc.returncode}: {proc.stderr.strip()[-200:]}")


def scenario_inputs(tally: Tally, fuzz: int) -> None:
    texts = [(name, text) for name, text, _ in cases.SCENARIOS]

    @settings(max_examples=fuzz, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=broken_scenarios())
    def generated(case: tuple[str, str | None]) -> None:
        texts.append(("fuzzed", case[0]))

    generated()
    targets = {name: target for name, target, _ in cases.TARGETS}
    texts += [(f"target: {name}", 'target = "target.toml"\n' + cases.VALID) for name in targets]
    for name, text in texts:
        with tempfile.TemporaryDirectory() as tmp:
            if name.startswith("target: "):
                (Path(tmp) / "target.toml").write_text(targets[name.removeprefix("target: ")])
            path = Path(tmp) / "hostile.toml"
            path.write_bytes(text.encode("utf-8", "surrogatepass"))
            reports = Path(tmp) / "reports"
            tally.add(name, ["run", str(path), "--reports", str(reports)], reports.exists, Path(tmp))


def run_id_inputs(tally: Tally) -> None:
    for run_id in ("/", "../../victim", "victim", "20261128T101500Z-x/../../victim", "x" * 500):
        for command in (["down", "--run"], ["status", "--run"], ["rollback", "--run"], ["deploy", "v2", "--run"]):
            with tempfile.TemporaryDirectory() as tmp:
                victim = Path(tmp) / "victim"
                victim.mkdir()
                (victim / "keep").write_text("mine")
                tally.add(f"{command[0]} --run {run_id[:30]}", [*command, run_id],
                          lambda v=victim: not (v / "keep").exists(), Path(tmp))


def damaged_runs(tally: Tally) -> None:
    for name, damage, _, _ in cases.DAMAGED:
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = make_run(Path(tmp))
            subprocess.run([*GAMEDAY, "report", str(run_dir)], capture_output=True, check=True)
            good = (run_dir / "report.html").read_text()
            damage(run_dir)
            tally.add(name, ["report", str(run_dir)],
                      lambda d=run_dir, g=good, n=name: "result.json" in n and (d / "report.html").read_text() != g,
                      Path(tmp))
    with tempfile.TemporaryDirectory() as tmp:
        first = make_run(Path(tmp), started=1_799_990_000)
        shutil.copytree(first, Path(tmp) / "copy")
        tally.add("trend over a copied run", ["trend", tmp], lambda: False, Path(tmp))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fuzz", type=int, default=200, help="generated broken scenarios (default 200)")
    args = parser.parse_args()
    tally = Tally()
    scenario_inputs(tally, args.fuzz)
    run_id_inputs(tally)
    damaged_runs(tally)
    for line in tally.bad:
        print(f"  not one line, or left something: {line}")
    print(f"hostile inputs: {tally.tried} tried, {tally.one_line} exit 2 with one line, "
          f"{tally.tracebacks} tracebacks (goal 0), {tally.leftovers} leftovers (goal 0)")


if __name__ == "__main__":
    main()
