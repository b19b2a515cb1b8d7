"""The incomplete-run report and the trend page, opened in real headless Chromium."""

from __future__ import annotations

from pathlib import Path

from harness.rehearsal.catalogue import load_scenario
from harness.reporting.report import write_report
from harness.reporting.trend import write_trend
from tests.integration.browser import open_in_chromium
from tests.unit.test_report import T0, make_run


def test_a_crashed_run_still_gets_a_readable_report(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, keep_result=False)
    check = open_in_chromium(write_report(run_dir, scenarios=load_scenario), "incomplete-run",
                             ("#verdict", "#timeline-chart polyline", "#gap-table", "text=This report is incomplete"))
    assert check.errors == []
    assert check.present["text=This report is incomplete"] == 1
    assert check.present["#timeline-chart polyline"] >= 2


def test_the_trend_page_shows_each_scenario_and_its_regressions(tmp_path: Path) -> None:
    make_run(tmp_path, started=T0 - 30000)
    make_run(tmp_path, started=T0 - 20000)
    make_run(tmp_path, started=T0 - 10000, shift=3.0)
    make_run(tmp_path, name="clean-deploy", started=T0 - 15000)
    check = open_in_chromium(write_trend(tmp_path), "trend",
                             ("#verdict", "#scenario-failing-health-check-no-gate", "#scenario-clean-deploy",
                              "svg polyline", "text=worse"))
    assert check.errors == []
    assert check.present["#scenario-clean-deploy"] == 1
    assert check.present["text=worse"] >= 1
