"""Draining and detection on the real replica: which requests a reload cut and why, and
one outage ranked by four detectors' times to detect."""

from __future__ import annotations

import json
from pathlib import Path

from harness.environment.replica import Staging
from harness.results.model import parse_ts
from harness.results.records import read_records
from tests.integration.browser import open_in_chromium
from tests.integration.test_runbook import no_leftovers, run

GRACEFUL_S = 10.0  # shop's --timeout and --graceful-timeout
JITTER_S = 1.5  # a request due to end this close to the cut-off may fall either side


def test_drain_cutoff_cuts_exactly_the_requests_that_needed_longer_than_the_graceful_timeout(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("drain-cutoff", tmp_path / "reports")
    assert code == 0 and result["outcome"] == "met", (result["reason"], result["gaps"])
    assert [d["action"] for d in result["drains"]] == ["deploy", "rollback"]
    t0 = parse_ts(result["t0"])
    records = list(read_records(run_dir / "requests.jsonl"))
    judged = cut = kept = 0
    for drain in result["drains"]:
        began = t0 + drain["started_s"]
        assert drain["in_flight"] == drain["completed"] + drain["cut"] + drain["failed_otherwise"]
        for r in records:
            if "ms=" not in r.name or not r.ts < began < r.ts + r.latency_ms / 1000:
                continue
            # How long the request still needed when the reload began, from what it asked for.
            remaining = r.ts + int(r.name.rsplit("=", 1)[1]) / 1000 - began
            if abs(remaining - GRACEFUL_S) < JITTER_S:
                continue
            judged += 1
            was_cut = r.failed and r.status in (0, 502, 503, 504)
            assert was_cut == (remaining > GRACEFUL_S), (r, remaining)
            cut, kept = cut + was_cut, kept + (not was_cut)
    assert judged >= 10 and cut >= 1 and kept >= 1, (judged, cut, kept)
    assert sum(d["cut"] for d in result["drains"]) >= cut
    why = next(d["why"] for d in result["drains"] if d["cut"])
    assert "graceful timeout (10 s)" in why
    rows, nested = "#drains > tbody > tr", "#drains .cut-requests"  # each row, and its list of cut requests
    page = open_in_chromium(run_dir / "report.html", "drain-cutoff", (rows, nested))
    assert page.errors == [] and page.present[rows] == 2 and page.present[nested] >= 1
    no_leftovers(staging, result)


def test_the_detection_ladder_ranks_four_detectors_by_time_to_detect(
    staging: Staging, images: object, tmp_path: Path
) -> None:
    code, result, run_dir = run("detection-ladder", tmp_path / "reports")
    assert code == 0 and result["outcome"] == "met", (result["reason"], result["gaps"])
    ladder = result["detection"]["ladder"]
    assert sorted(r["detector"] for r in ladder) == ["error_rate", "health", "log", "uptime"]
    times = [r["detect_s"] for r in ladder]
    assert None not in times and times == sorted(times), ladder
    # The uptime monitor polls once a minute: it is last, and the fault lasted long enough for it.
    assert ladder[-1]["detector"] == "uptime" and 0 < ladder[-1]["detect_s"] <= 61
    assert all(r["detect_s"] < 5 for r in ladder[:-1]), ladder
    log = next(r for r in ladder if r["detector"] == "log")
    # It parsed the proxy's JSON access log: a line a request, with its status.
    assert "lines of the access log matched status >= 500" in log["detail"]
    page = open_in_chromium(run_dir / "report.html", "detection-ladder", ("#detection-ladder tbody tr",))
    assert page.errors == [] and page.present["#detection-ladder tbody tr"] == 4
    events = [json.loads(line) for line in (run_dir / "timeline.jsonl").read_text().splitlines()]
    assert {e["detector"] for e in events if e["event"] == "alarm_raised"} == {"error_rate", "health", "log", "uptime"}
    no_leftovers(staging, result)
