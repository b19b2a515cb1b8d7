import json

from harness.results.timeline import Timeline, read_jsonl


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
