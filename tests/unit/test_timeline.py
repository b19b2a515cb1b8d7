import ast
import json
from pathlib import Path

from harness.results.timeline import Event, Timeline, read_jsonl

HARNESS = Path(__file__).resolve().parents[2] / "harness"


def test_timeline_appends_and_flushes_each_event(tmp_path):
    clock = iter([10.0, 11.5])
    timeline = Timeline(tmp_path / "timeline.jsonl", clock=lambda: next(clock))
    timeline.record("fault_injected", kind="deploy")
    # Flushed already: a reader sees it before close.
    assert json.loads((tmp_path / "timeline.jsonl").read_text()) == {"ts": 10.0, "event": "fault_injected",
                                                                     "kind": "deploy"}
    timeline.record("alarm_raised", detector="health")
    timeline.record("rollback_started", ts=12.25)
    timeline.close()
    assert [e["event"] for e in read_jsonl(tmp_path / "timeline.jsonl")] == [
        "fault_injected", "alarm_raised", "rollback_started"]
    assert timeline.first("alarm_raised") == {"ts": 11.5, "event": "alarm_raised", "detector": "health"}


def test_reader_tolerates_a_torn_last_line(tmp_path):
    path = tmp_path / "timeline.jsonl"
    path.write_text('{"ts": 1, "event": "a"}\n{"ts": 2, "ev')
    assert list(read_jsonl(path)) == [{"ts": 1, "event": "a"}]


def test_an_event_is_written_as_its_plain_name(tmp_path):
    timeline = Timeline(tmp_path / "timeline.jsonl", clock=lambda: 5.0)
    entry = timeline.record(Event.FAULT_INJECTED, kind="deploy")
    timeline.close()
    assert (tmp_path / "timeline.jsonl").read_text() == '{"ts": 5.0, "event": "fault_injected", "kind": "deploy"}\n'
    assert entry["event"] == "fault_injected" and type(entry["event"]) is str
    assert timeline.first(Event.FAULT_INJECTED) == entry


def recorded_names() -> set[str]:
    """Every event name passed to `.record(...)` in the harness, as a literal or an Event."""
    names = set()
    for path in HARNESS.rglob("*.py"):
        if "targets" in path.relative_to(HARNESS).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "record" and node.args):
                continue
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.add(arg.value)
            elif isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id == "Event":
                names.add(Event[arg.attr].value)
    return names


def test_every_recorded_event_is_an_event():
    names = recorded_names()
    assert names, "found no .record(...) call"
    assert names <= {e.value for e in Event}, names - {e.value for e in Event}
    assert all(e.value == e.name.lower() for e in Event)


def test_a_timeline_the_disk_will_not_take_keeps_every_event_and_says_so():
    # /dev/full answers every write with ENOSPC, as a full disk does.
    timeline = Timeline(Path("/dev/full"), clock=lambda: 5.0)
    timeline.record("fault_injected", kind="deploy")
    timeline.record("alarm_raised", detector="health")
    assert [e["event"] for e in timeline.events] == ["fault_injected", "alarm_raised"]
    assert timeline.write_error is not None and timeline.write_error.strerror == "No space left on device"
    timeline.close()


def test_reading_a_timeline_names_each_damaged_line(tmp_path):
    from harness.results.timeline import read_timeline

    path = tmp_path / "timeline.jsonl"
    path.write_text('{"ts": 1, "event": "a"}\n{"ts": "soon", "event": "b"}\n[1]\n{"ts": 3}\n'
                    '{"ts": 4, "event": "load_lost", "at": "then"}\n{"ts": 5, "event": "c", "exit_status": 1.5}\n'
                    '{"ts": 6, "event": "d"}\n{"ts": 7, "ev')
    found = read_timeline(path)
    assert [e["event"] for e in found.events] == ["a", "d"]
    assert found.torn
    assert found.damaged == ("line 2: ts must be a number of seconds, got 'soon'",
                             "line 3: is not a JSON object but list", "line 4: event must name what happened",
                             "line 5: at must be a number of seconds, got 'then'",
                             "line 6: exit_status must be a whole number, got '1.5'")
