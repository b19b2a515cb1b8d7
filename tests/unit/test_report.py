import json
from datetime import UTC, datetime
from pathlib import Path

from harness.rehearsal.catalogue import find_scenario, load_scenario
from harness.reporting.buckets import aggregate, percentile, span_of
from harness.reporting.chart import build_chart, place_labels
from harness.reporting.report import build_model, render, write_report
from harness.reporting.trend import build, collect, write_trend
from harness.results.measure import Observed, measure
from tests.unit.test_result import T0, log, traffic


def record_line(ts: float, status: int = 200, latency: float = 10.0) -> str:
    return json.dumps([ts, status, latency, int(status >= 400), "GET /orders", "", "r1"]) + "\n"


def make_run(tmp_path: Path, name: str = "failing-health-check-no-gate", keep_result: bool = True,
             started: float = T0 - 5, shift: float = 0.0) -> Path:
    scenario = find_scenario(name)
    run_dir = tmp_path / f"{int(started)}-{name}"
    run_dir.mkdir(parents=True)
    records = traffic(-5, 10, bad_from=0.5, bad_until=1.4 + shift)
    with (run_dir / "requests.jsonl").open("w") as fh:
        for r in records:
            fh.write(record_line(r.ts, r.status, r.latency_ms))
    timeline = [
        {"ts": T0 - 5, "event": "phase_started", "phase": "baseline"},
        {"ts": T0, "event": "fault_injected", "kind": "deploy"},
        {"ts": T0 + 0.01, "event": "phase_started", "phase": "detect"},
        {"ts": T0 + 0.62 + shift, "event": "alarm_raised", "detector": "error_rate", "detail": "3/3"},
        {"ts": T0 + 1.0, "event": "phase_started", "phase": "recover"},
        {"ts": T0 + 2.0, "event": "phase_started", "phase": "verify"},
    ]
    (run_dir / "timeline.jsonl").write_text("".join(json.dumps(e) + "\n" for e in timeline))
    (run_dir / "run.json").write_text(json.dumps({"run_id": run_dir.name, "scenario": name,
                                                  "scenario_path": str(scenario.path), "started": started}))
    if keep_result:
        deploy_log = [log("deploy", "release", 0.05, detail="x -> releases/r2"), log("deploy", "swap", 0.5),
                      log("rollback", "lock", 1.2 + shift, 0.001), log("rollback", "swap", 1.21 + shift),
                      log("rollback", "unlock", 1.5 + shift, 0.001)]
        observed = Observed(run_id=run_dir.name, started_at=started, finished_at=T0 + 10, t0=T0, timeline=timeline,
                            deploy_log=deploy_log, releases={"before": "r1", "deployed": "r2", "after": "r1"},
                            jobs={"enqueued": 5, "completed": 5, "lost": 0, "duplicated": 0})
        (run_dir / "result.json").write_text(json.dumps(measure(scenario, observed, records).to_json()))
    return run_dir


def test_buckets_count_rate_errors_and_p95(tmp_path):
    path = tmp_path / "requests.jsonl"
    with path.open("w") as fh:
        for i in range(100):
            fh.write(record_line(i / 50, 500 if i >= 50 else 200, latency=10.0 if i % 20 else 200.0))
        fh.write(record_line(99.0)[:12])  # a torn last line
    assert span_of(path) == (0.0, 1.98)
    series = aggregate(path, 0.0, 2.0)
    assert series.total == 100 and series.failed == 50
    assert series.width_s == 0.25
    first = series.points[0]
    assert first.requests_per_s == 13 / 0.25 and first.error_rate == 0.0
    assert series.points[-2].error_rate == 1.0
    assert percentile([0] * 10 + [5] + [0] * 105, 0.95) is not None


def test_bucket_count_is_bounded_for_long_runs(tmp_path):
    path = tmp_path / "requests.jsonl"
    path.write_text(record_line(0.0) + record_line(36000.0))
    series = aggregate(path, 0.0, 36000.0)
    assert len(series.points) <= 601


def test_chart_labels_do_not_overlap():
    markers = place_labels([(100.0, "fault injected"), (110.0, "alarm"), (120.0, "swap"), (400.0, "recovered")])
    assert [m.row for m in markers] == [0, 1, 2, 0]
    edge = place_labels([(940.0, "gate aborted")], right=944.0)[0]
    assert edge.anchor == "end"


def test_chart_spans_records_phases_and_events(tmp_path):
    run_dir = make_run(tmp_path)
    series = aggregate(run_dir / "requests.jsonl", T0 - 5, T0 + 10)
    chart = build_chart(series.points, series.origin - T0, [("baseline", -5, 0), ("detect", 0, 1)],
                        [("fault injected", 0.0), ("alarm", 0.62)])
    assert len(chart.panels) == 3 and all(p.points for p in chart.panels)
    assert [b.label for b in chart.bands] == ["baseline", "detect"]
    assert chart.markers[0].x < chart.markers[1].x


def test_report_model_tells_the_outcome_and_times(tmp_path):
    model = build_model(make_run(tmp_path))
    assert model.outcome == "met" and model.complete and not model.rebuilt
    assert model.headline.startswith("Every objective met")
    rows = {r.label: r for r in model.rows}
    assert rows["Time to detect"].measured == "0.12 s" and rows["Time to detect"].met is True
    assert rows["Failed requests"].measured == "45"
    assert [t.label for t in model.tiles][0] == "time to detect"


def test_report_is_self_contained_html(tmp_path):
    html = render(build_model(make_run(tmp_path)))
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html
    assert 'id="timeline-chart"' in html and 'id="gap-table"' in html and "<style>" in html


def test_a_run_without_result_json_gets_an_incomplete_report(tmp_path):
    run_dir = make_run(tmp_path, keep_result=False)
    path = write_report(run_dir, scenarios=load_scenario)
    html = path.read_text()
    assert "This report is incomplete" in html
    assert "Incomplete: the run did not finish" in html
    model = build_model(run_dir, scenarios=load_scenario)
    assert model.complete is False and model.rebuilt
    assert model.outcome == "aborted"  # a rebuilt result stopped before it could judge anything


def test_trend_groups_runs_and_flags_a_regression(tmp_path):
    make_run(tmp_path, started=T0 - 30000)
    make_run(tmp_path, started=T0 - 20000)
    make_run(tmp_path, started=T0 - 10000, shift=3.0)  # detects 3 s later than before
    trends = build(collect(tmp_path, None, None))
    assert [t.name for t in trends] == ["failing-health-check-no-gate"]
    trend = trends[0]
    assert len(trend.runs) == 3
    detect = next(c for c in trend.comparisons if c.metric == "time_to_detect_s")
    assert trend.regressed and detect.regressed
    assert detect.previous == 0.12 and detect.latest == 3.12
    html = write_trend(tmp_path).read_text()
    assert "Recovery got worse" in html and "<script" not in html


def test_trend_filters_by_scenario_and_date(tmp_path):
    make_run(tmp_path, started=T0 - 30000)
    assert build(collect(tmp_path, None, "clean-deploy")) == []
    assert build(collect(tmp_path, datetime.fromtimestamp(T0, UTC), None)) == []
