"""Migration lint tied to the outcome, from squawk's recorded JSON report."""

from pathlib import Path

import pytest

from harness.results.lint import LintReportError, Outcome, findings, prevention, release_of_gap
from harness.results.model import PREVENTABLE, RUNTIME

# `squawk --reporter json --pg-version 15` on bad-migration's and v2's migrations.
REPORT = (Path(__file__).parent / "data" / "squawk" / "report.json").read_text()
WHERE = {"bad-migration/migrations/002_drop_customer.up.sql": ("bad-migration", "migrations/002_drop_customer.up.sql"),
         "v2/migrations/002_add_coupon.up.sql": ("v2", "migrations/002_add_coupon.up.sql")}


def test_the_report_reads_as_findings_with_their_release_and_one_based_line():
    found = findings(REPORT, WHERE)
    drop = [f for f in found if f.rule == "ban-drop-column"]
    assert len(drop) == 1
    assert (drop[0].release, drop[0].file, drop[0].line, drop[0].level) == (
        "bad-migration", "migrations/002_drop_customer.up.sql", 2, "warning")
    assert {f.rule for f in found if f.release == "v2"} == {"require-lock-timeout", "require-statement-timeout"}


def test_a_breaking_rule_makes_every_gap_of_its_release_preventable():
    found = findings(REPORT, WHERE)
    assert prevention("bad-migration", found, Outcome()) == (PREVENTABLE, ("ban-drop-column",))


def test_a_locking_rule_explains_only_a_stall():
    found = findings(REPORT, WHERE)
    assert prevention("v2", found, Outcome()) == (RUNTIME, ())
    assert prevention("v2", found, Outcome(stalled=True)) == (
        PREVENTABLE, ("require-lock-timeout", "require-statement-timeout"))


def test_a_release_without_findings_or_a_false_alarm_needs_runtime_detection():
    found = findings(REPORT, WHERE)
    assert prevention("bad-health", found, Outcome(stalled=True, migrate_failed=True)) == (RUNTIME, ())
    assert prevention("bad-migration", found, Outcome(), from_deploy=False) == (RUNTIME, ())


def test_a_rerun_rule_explains_a_failed_migrate_step():
    found = findings(REPORT, WHERE)
    only_robust = [f for f in found if f.rule == "prefer-robust-stmts"]
    assert prevention("bad-migration", only_robust, Outcome()) == (RUNTIME, ())
    assert prevention("bad-migration", only_robust, Outcome(migrate_failed=True)) == (
        PREVENTABLE, ("prefer-robust-stmts",))


def test_a_plan_gap_is_about_its_step_release():
    steps = ["rename-expand", "rename-contract-early"]
    assert release_of_gap("step_2_failed_requests", "rename-expand", steps) == "rename-contract-early"
    assert release_of_gap("time_to_detect_s", "bad-migration", []) == "bad-migration"


@pytest.mark.parametrize("report", ["{not json", '{"rule_name": "x"}', '[{"file": "a.sql"}]'])
def test_a_report_that_is_not_squawks_is_refused(report):
    with pytest.raises(LintReportError):
        findings(report, {})


def test_an_empty_report_has_no_findings():
    assert findings("", {}) == [] and findings("[]", {}) == []
