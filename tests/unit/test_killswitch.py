"""A flag fault's rounds: the order they run in, and each round's times, failed requests
and blast radius from recorded events and records. No Docker, no clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from harness import cli
from harness.config.target import FlagStore
from harness.environment import CommandResult
from harness.errors import InputError
from harness.rehearsal.catalogue import find_scenario, load_scenario
from harness.rehearsal.faults.flag import flag_command, rounds, set_flag
from harness.results.measure import Observed, measure
from harness.results.model import Result
from harness.results.records import Record
from harness.results.rounds import compare, rounds_of
from harness.results.timeline import Event
from tests.unit.test_result_schema import errors, written

T0 = 1_800_000_000.0
TINY = Path(__file__).resolve().parents[1] / "targets" / "tiny"  # a target with no [flags]


def traffic(start: float, end: float, failing: list[tuple[float, float]]) -> list[Record]:
    """40 req/s from start to end (seconds after T0), failing inside any `failing` window."""
    found = []
    for i in range(int((end - start) * 40)):
        ts = T0 + start + i / 40
        bad = any(T0 + a <= ts < T0 + b for a, b in failing)
        found.append(Record(ts, 500 if bad else 201, 8.0, bad, "POST /orders"))
    return found


def round_events(index: int, percent: int, mitigation: str, start: float, alarm: float, mitigated: float,
                 recovered: float | None) -> list[dict[str, Any]]:
    fields = {"round": index, "percent": percent, "mitigation": mitigation}
    return [
        {"ts": T0 + start, "event": Event.ROUND_STARTED, **fields, "flag": "new_checkout", "command": "c",
         "exit_status": 0},
        {"ts": T0 + alarm, "event": Event.ALARM_RAISED, "detector": "error_rate", "detail": "", "phase": "round"},
        {"ts": T0 + alarm + 0.01, "event": Event.ROLLBACK_STARTED, "action": mitigation, "command": "c", **fields},
        {"ts": T0 + mitigated, "event": Event.ROLLBACK_FINISHED, "action": mitigation, "command": "c",
         "exit_status": 0, **fields},
        {"ts": T0 + mitigated + 4, "event": Event.ROUND_FINISHED, **fields,
         "recovered_ts": None if recovered is None else T0 + recovered},
    ]


def test_rounds_take_turns_through_shares_and_mitigations():
    scenario = find_scenario("flag-vs-rollback")
    order = [(r.percent, r.mitigation) for r in rounds(scenario)]
    assert order == [(50, "flag-off"), (50, "rollback")] * 3
    assert [r.index for r in rounds(scenario)] == [1, 2, 3, 4, 5, 6]
    assert [(r.percent, r.mitigation) for r in rounds(find_scenario("flag-kill-switch"))] == [
        (5, "flag-off"), (50, "flag-off")]


def test_each_round_is_timed_from_its_own_flag_flip():
    events = (round_events(1, 5, "flag-off", 0, 1.5, 1.6, 1.7)
              + round_events(2, 50, "rollback", 10, 10.4, 11.4, 11.5))
    records = traffic(-5, 20, [(1.0, 1.6), (10.2, 11.4)])
    first, second = rounds_of(events, records, T0)
    assert (first.percent, first.mitigation, first.started_s) == (5, "flag-off", 0.0)
    assert (first.impact_s, first.detect_s, first.mitigated_s, first.recovered_s) == (1.0, 1.5, 1.6, 1.7)
    assert first.time_to_detect_s == 0.5 and first.time_to_mitigate_s == 0.6
    assert first.failed == 24 and first.requests == 40 * 5 + 24  # up to its round_finished at 5.6 s
    assert second.started_s == 10.0 and second.time_to_mitigate_s == 1.2
    # Exposed from the flag flip at 10 s to the mitigation at 11.4 s: 8 requests served
    # before the first failure, 48 failed, and the one at 11.4 s served.
    assert second.failed == 48 and second.blast_radius == round(48 / 57, 4)
    by_mitigation = {c.label: c for c in compare((first, second), "mitigation")}
    assert by_mitigation["flag-off"].time_to_mitigate_s == 0.6 and by_mitigation["rollback"].failed == 48
    assert [c.label for c in compare((first, second), "percent")] == ["5%", "50%"]


def test_an_undetected_or_unrecovered_round_is_a_gap_and_the_result_round_trips():
    scenario = find_scenario("flag-kill-switch")
    events = [{"ts": T0, "event": Event.FAULT_INJECTED, "kind": "flag"}]
    events += round_events(1, 5, "flag-off", 0, 1.5, 1.6, None)
    events += [e for e in round_events(2, 50, "flag-off", 10, 10.4, 10.5, 10.6) if e["event"] != Event.ALARM_RAISED]
    observed = Observed(run_id="r", started_at=T0 - 10, finished_at=T0 + 20, t0=T0, timeline=events, deploy_log=[],
                        releases={"before": "a", "deployed": None, "after": "a"},
                        jobs={"enqueued": 1, "completed": 1, "lost": 0, "duplicated": 0})
    result = measure(scenario, observed, traffic(-10, 20, [(1.0, 1.6), (10.2, 10.5)]))
    gaps = {g.name for g in result.gaps}
    assert {"round_1_not_recovered", "round_2_not_detected"} <= gaps
    assert result.incident.cause is not None and "new_checkout" in result.incident.cause
    assert "5%, 50% of users" in result.incident.cause
    assert Result.from_json(result.to_json()) == result
    assert errors(written(result)) == []


@pytest.mark.parametrize(("fault", "recovery", "key", "problem"), [
    ('kind = "flag"\nflag = "x"\npercent = 0', "", "fault.percent", "from 1 to 100"),
    ('kind = "flag"\nflag = "x"\npercent = [5, "ten"]', "", "fault.percent", "from 1 to 100"),
    ('kind = "flag"\nflag = "x"', 'mitigations = ["rollback"]', "recovery.mitigations", "needs fault.release"),
    ('kind = "flag"\nflag = "x"', 'mitigations = ["pray"]', "recovery.mitigations", "is not one of"),
    ('release = "v2"', 'mitigations = ["flag-off"]', "recovery.mitigations", 'for a fault of kind "flag"'),
    ('kind = "flag"\nflag = "x"\nrepeat = 30\npercent = [1, 2]', "", "recovery.mitigations", "at most 40"),
    ('kind = "flag"\nflag = "x"\npercent = [5, 5]', "", "fault.percent", "lists a share twice"),
    ('kind = "flag"\nflag = "x"', 'mitigations = ["flag-off", "flag-off"]', "recovery.mitigations", "twice"),
    ('kind = "flag"\nflag = "x"', 'mode = "operator"', "recovery.mode", "recovery.mitigations"),
])
def test_flag_keys_are_validated(tmp_path, fault, recovery, key, problem):
    path = tmp_path / "s.toml"
    path.write_text(f"[fault]\n{fault}\n[recovery]\n{recovery}\n[detectors.error_rate]\n")
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert caught.value.key == key and problem in caught.value.problem


def test_a_flag_fault_needs_a_target_with_a_flag_store(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(f'target = "{TINY}"\n[fault]\nkind = "flag"\nflag = "x"\n[detectors.error_rate]\n')
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert caught.value.key == "fault.kind" and "needs a target with a [flags] store" in caught.value.problem


class Recorder:
    """A web host and database that note what they were asked to run."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, str]] = []

    def exec(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> CommandResult:
        self.ran.append(("exec", argv[-1]))
        return CommandResult(tuple(argv), 0, "", "")

    def sql(self, database: str, query: str) -> list[list[str]]:
        self.ran.append((database, query))
        return []


def test_a_flag_is_flipped_with_the_targets_sql_or_its_command():
    scenario = find_scenario("flag-kill-switch")
    host = Recorder()
    assert set_flag(host, scenario, 5).ok  # type: ignore[arg-type]
    assert host.ran == [("shop", "INSERT INTO flags (name, percent) VALUES ('new_checkout', 5) ON CONFLICT (name) "
                                 "DO UPDATE SET percent = EXCLUDED.percent")]
    by_command = dataclasses.replace(scenario, target=dataclasses.replace(
        scenario.target, flags=FlagStore(command="/srv/app/current/bin/flag {flag} {percent}")))
    assert set_flag(host, by_command, 0).ok  # type: ignore[arg-type]
    assert host.ran[-1] == ("exec", "/srv/app/current/bin/flag new_checkout 0")
    assert flag_command(by_command, 0) == "/srv/app/current/bin/flag new_checkout 0"
    assert flag_command(scenario, 50).startswith('psql -c "INSERT INTO flags')


def test_operator_mode_is_refused_for_a_flag_fault_before_anything_starts(capsys, monkeypatch):
    def no_docker() -> None:
        raise AssertionError("a refused run must not reach Docker")

    monkeypatch.setattr("harness.environment.replica.connect", no_docker)
    assert cli.main(["run", "flag-kill-switch", "--operator"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--operator is for a single fault" in err
