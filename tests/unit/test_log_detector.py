"""The log detector and the detection ladder, with a fake web host whose log grows: no
Docker, no sleeps."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from harness.config.scenario import LogDetector
from harness.environment import CommandResult
from harness.errors import InputError
from harness.rehearsal.catalogue import find_scenario, load_scenario
from harness.rehearsal.watch import LogCount
from harness.results.measure import ladder

TINY = Path(__file__).resolve().parents[1] / "targets" / "tiny" / "target.toml"


class GrowingLog:
    """A web host with one file that grows (or is rotated); `exec` answers the detector's
    `wc -l` and `tail -n +LINE` the way a shell would."""

    def __init__(self) -> None:
        self.text = ""

    def exec(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> CommandResult:
        start = int(re.search(r"tail -n \+(\d+)", argv[-1]).group(1))  # type: ignore[union-attr]
        lines = self.text.splitlines(keepends=True)
        complete = sum(line.endswith("\n") for line in lines)
        return CommandResult(tuple(argv), 0, f"{complete}\n" + "".join(lines[start - 1:]), "")


def access(status: int) -> str:
    return json.dumps({"ts": 1.0, "status": status, "uri": "/orders"}) + "\n"


def detector(**overrides: object) -> LogDetector:
    fields: dict[str, object] = {"log": "access", "path": "/srv/app/shared/log/nginx-access.jsonl", "count": 3,
                                 "window_s": 5.0, "interval_s": 0.5, "status_min": 500, "pattern": None}
    return LogDetector(**{**fields, **overrides})  # type: ignore[arg-type]


def test_it_counts_only_lines_written_after_it_started_within_its_window():
    host, now = GrowingLog(), [100.0]
    host.text = access(500) * 10  # before the watch began: not counted
    count = LogCount(host, detector(), lambda: now[0])  # type: ignore[arg-type]
    assert count.check().ok
    host.text += access(200) + access(502) + access(503)
    first = count.check()
    assert first.ok and first.detail == "2 lines of the access log matched status >= 500 in 5s"
    host.text += access(500)[:10]  # a torn line waits for its end
    assert count.check().ok
    host.text += access(500)[10:]
    assert not count.check().ok
    now[0] += 6  # the matches age out of the window
    assert count.check().ok
    host.text = access(500)  # rotated: a shorter file, read from its start on the next look
    assert count.check().ok
    host.text += access(500) * 2
    assert not count.check().ok


def test_a_pattern_matches_the_apps_own_log():
    host, now = GrowingLog(), [0.0]
    count = LogCount(host, detector(log="app", pattern="request_failed", status_min=None, count=1),  # type: ignore[arg-type]
                     lambda: now[0])
    count.check()
    host.text += json.dumps({"event": "request_failed", "status": 500}) + "\n"
    assert not count.check().ok


def test_the_ladder_ranks_detectors_and_lists_the_silent_ones_last():
    scenario = find_scenario("detection-ladder")
    alarms = [{"ts": 104.0, "event": "alarm_raised", "detector": "health", "detail": "503"},
              {"ts": 100.5, "event": "alarm_raised", "detector": "error_rate", "detail": "9/10"},
              {"ts": 101.0, "event": "alarm_raised", "detector": "health", "detail": "later"},
              {"ts": 102.0, "event": "alarm_raised", "detector": "log", "detail": "5 lines"}]
    rungs = ladder(scenario, alarms, 100.0, 100.2)
    assert [(r.detector, r.detect_s) for r in rungs] == [("error_rate", 0.5), ("health", 1.0), ("log", 2.0),
                                                          ("uptime", None)]
    assert rungs[0].time_to_detect_s == 0.3 and rungs[1].detail == "later" and rungs[-1].detail == ""


@pytest.mark.parametrize(("table", "key", "problem"), [
    ('log = "app"\npattern = "("', "detectors.log.pattern", "is not a regular expression"),
    ('status_min = 500\npattern = "x"', "detectors.log.status_min", "set exactly one"),
    ('log = "kernel"\nstatus_min = 500', "detectors.log.log", "must be one of"),
])
def test_log_detector_keys_are_validated(tmp_path, table, key, problem):
    path = tmp_path / "s.toml"
    path.write_text(f'[fault]\nrelease = "v2"\n[detectors.log]\n{table}\n')
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert caught.value.key == key and problem in caught.value.problem


def test_a_log_detector_needs_a_target_that_declares_the_log(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(f'target = "{TINY}"\n[fault]\nrelease = "v2"\n[detectors.log]\nstatus_min = 500\n')
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert caught.value.key == "detectors.log.log" and "declares no 'access' log" in caught.value.problem
