"""Hostile and careless inputs, each as a user would give it: every one is one line on
stderr naming the file and the key (or the file and line of a damaged run directory),
exit 2, and nothing created: no reports directory, no container (Docker is unreachable
here, so reaching it would say so instead), nothing removed that is not gameday's."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from harness import cli
from tests.unit.test_report import make_run

SHOP_LOCUSTFILE = Path(__file__).resolve().parents[2] / "harness" / "targets" / "shop" / "locustfile.py"
NO_DOCKER = "unix:///nonexistent/gameday-test-docker.sock"
HUGE = "1" * 400  # no float holds it
VALID = """\
description = "hostile"
[fault]
kind = "deploy"
release = "v2"
[detectors.error_rate]
window_s = 1.0
[objectives]
failed_requests = 10
"""


def one_line(err: str) -> str:
    assert err.count("\n") == 1, err
    assert "Traceback" not in err, err
    return err.strip()


@pytest.fixture(autouse=True)
def no_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_DOCKER)


def run_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, name: str = "hostile.toml",
             *extra: str) -> tuple[int, str, Path]:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    reports = tmp_path / "reports"
    code = cli.main(["run", str(path), "--reports", str(reports), *extra])
    err = capsys.readouterr().err
    assert not reports.exists(), f"{reports} was created for bad input"
    return code, err, path


# (what the case is, the file's text, the key its error names)
SCENARIOS: list[tuple[str, str, str | None]] = [
    ("objective of 400 digits", VALID.replace("failed_requests = 10", f"failed_requests = {HUGE}"),
     "objectives.failed_requests"),
    ("users of 400 digits", VALID + f"[load]\nusers = {HUGE}\n", "load.users"),
    ("negative users of 400 digits", VALID + f"[load]\nusers = -{HUGE}\n", "load.users"),
    ("a float out of range", VALID + "[phases]\nbaseline_s = 1e400\n", "phases.baseline_s"),
    ("inf", VALID + "[phases]\nstable_s = inf\n", "phases.stable_s"),
    ("nan", VALID + "[detectors.health]\ninterval_s = nan\n", "detectors.health.interval_s"),
    ("an objective above any count", VALID.replace("failed_requests = 10", "failed_requests = 99999999999"),
     "objectives.failed_requests"),
    ("arrays nested 3000 deep", VALID + "x = " + "[" * 3000 + "]" * 3000 + "\n", None),
    ("inline tables nested 3000 deep", VALID + "x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n", None),
    ("a NUL byte in target", 'target = "sh\\u0000op"\n' + VALID, "target"),
    ("a NUL byte in a target path", 'target = "dir/t\\u0000.toml"\n' + VALID, "target"),
    ("a NUL byte in locustfile", VALID + '[load]\nlocustfile = "a\\u0000.py"\n', "load.locustfile"),
    ("a NUL byte in the description", VALID.replace('"hostile"', '"a\\u0000b"'), "description"),
    ("a locustfile name longer than any path", VALID + f'[load]\nlocustfile = "{"a" * 5000}.py"\n',
     "load.locustfile"),
    ("a target path longer than any path", f'target = "{"d/" * 3000}t.toml"\n' + VALID, "target"),
    ("the fault deploys the start release", VALID.replace('release = "v2"', 'release = "v1"'), "fault.release"),
    ("after_s longer than the detection window",
     VALID + '[recovery]\ntrigger = "after"\nafter_s = 120\n[phases]\ndetect_timeout_s = 30\n', "recovery.after_s"),
    ("a master port out of range", VALID + "[load]\nremote_workers = 1\nmaster_bind_host = \"10.0.0.1\"\n"
     "master_port = 99999\n", "load.master_port"),
    ("not UTF-8", VALID + "# \udcff\n", None),
    ("a key that is 10,000 characters", VALID + "k" * 10000 + " = 1\n", None),
]


@pytest.mark.parametrize(("text", "key"), [(t, k) for _, t, k in SCENARIOS], ids=[c for c, _, _ in SCENARIOS])
def test_a_hostile_scenario_is_one_line_naming_file_and_key(tmp_path, capsys, text, key):
    code, err, path = run_file(tmp_path, capsys, text)
    assert code == 2
    line = one_line(err)
    assert str(path) in line
    if key is not None:
        assert f": {key}: " in line, line
    assert len(line) < 600, line  # a giant value is cut, not echoed whole


TARGET = """\
extends = "shop"
name = "hostile"
"""


TARGETS: list[tuple[str, str, str | None]] = [
    ("an existing environment on port 99999", 'name = "t"\nfirst_release = "v1"\n[environment]\n'
     'url = "http://127.0.0.1:99999"\nreleases = ["v1", "v2"]\n[run]\nhealth_path = "/health"\n'
     'version_path = "/version"\n[deploy]\ndeploy = "true {release}"\nrollback = "true"\n', "environment.url"),
    ("a secret that is no variable name", TARGET + 'secrets = ["FLY TOKEN"]\n', "secrets"),
    ("a NUL byte in a deploy command", TARGET + '[deploy]\ndeploy = "true\\u0000"\nrollback = "true"\n',
     "deploy.deploy"),
    ("a graceful timeout of 400 digits", TARGET + f"[run]\ngraceful_timeout_s = {HUGE}\n", "run.graceful_timeout_s"),
    ("extends nested 3000 deep", TARGET + "x = " + "[" * 3000 + "]" * 3000 + "\n", None),
]


@pytest.mark.parametrize(("case", "target", "key"), TARGETS, ids=[c for c, _, _ in TARGETS])
def test_a_hostile_target_is_one_line_naming_its_file_and_key(tmp_path, capsys, case, target, key):
    (tmp_path / "target.toml").write_text(target)
    code, err, _ = run_file(tmp_path, capsys, 'target = "target.toml"\n' + VALID)
    assert code == 2, case
    line = one_line(err)
    assert str(tmp_path / "target.toml") in line, line
    if key is not None:
        assert f": {key}: " in line, line


def test_a_url_password_never_reaches_the_error_line(tmp_path, capsys):
    (tmp_path / "target.toml").write_text(
        f'name = "t"\nfirst_release = "v1"\nlocustfile = "{SHOP_LOCUSTFILE}"\n'
        '[environment]\nurl = "http://user:hunter2-pass@staging.example"\n'
        'releases = ["v1", "v2"]\n[run]\nhealth_path = "/health"\nversion_path = "/version"\n'
        '[deploy]\ndeploy = "true {release}"\nrollback = "true"\n')
    code, err, _ = run_file(tmp_path, capsys, 'target = "target.toml"\n' + VALID)
    assert code == 2
    assert "hunter2-pass" not in err and "http://user:***@staging.example" in one_line(err)


@pytest.mark.parametrize("argv", [
    ["--regression-budget", "nan"], ["--regression-budget", "inf"], ["--regression-budget", "-5"],
    ["--regression-budget", "10", "--budget-runs", "0"],
])
def test_a_budget_that_is_no_percentage_is_one_line(tmp_path, capsys, argv):
    code, err, _ = run_file(tmp_path, capsys, VALID, "hostile.toml", *argv)
    assert code == 2 and "--regression-budget" in one_line(err)


# --- the run-id commands: never a path, never another's -----------------------------


@pytest.mark.parametrize("run_id", ["/", "/tmp/victim", "../../victim", "..", ".", "victim/..", "a b",
                                    "20261128T101500Z-x/../../victim", "x" * 500, "20261128T101500Z-UPPER",
                                    "20261128T101500Z-ends-"])
@pytest.mark.parametrize("command", [["down", "--run"], ["status", "--run"], ["rollback", "--run"],
                                     ["releases", "--run"], ["deploy", "v2", "--run"]])
def test_a_run_id_that_is_a_path_is_refused_before_anything_is_touched(tmp_path, capsys, monkeypatch, command,
                                                                        run_id):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("mine")
    monkeypatch.chdir(tmp_path)
    assert cli.main([*command, run_id]) == 2
    line = one_line(capsys.readouterr().err)
    assert "is not a gameday run id" in line
    assert "gameday down" not in line  # never a command built from what was given
    assert (victim / "keep").read_text() == "mine"


def test_the_run_id_pattern_reads_every_id_gameday_has_written():
    from harness.results.runid import is_run_id

    for run_id in ("20261128T101500Z-bad-migration", "20261128T101500Z-clean-deploy-2", "20261128T101500Z-up",
                   "20261128T101500Z-pool-shop-4242-1", "20261128T101500Z-test-test-up-deploy-rollback-down",
                   "20261128T101500Z-run", "20261128T101500Z-a--b"):
        assert is_run_id(run_id), run_id


# --- damaged run directories: report and trend --------------------------------------


def damage_result(text: str) -> Callable[[Path], None]:
    return lambda run_dir: (run_dir / "result.json").write_text(text)


def edit_json(name: str, change: Callable[[dict], None]) -> Callable[[Path], None]:  # type: ignore[type-arg]
    def edit(run_dir: Path) -> None:
        data = json.loads((run_dir / name).read_text())
        change(data)
        (run_dir / name).write_text(json.dumps(data))
    return edit


def edit_line(name: str, number: int, change: Callable[[str], str]) -> Callable[[Path], None]:
    def edit(run_dir: Path) -> None:
        lines = (run_dir / name).read_text().splitlines(keepends=True)
        lines[number - 1] = change(lines[number - 1])
        (run_dir / name).write_text("".join(lines))
    return edit


def without_result(change: Callable[[Path], None]) -> Callable[[Path], None]:
    def edit(run_dir: Path) -> None:
        (run_dir / "result.json").unlink()
        change(run_dir)
    return edit


def no_event(line: str) -> str:
    entry = json.loads(line)
    del entry["event"]
    return json.dumps(entry) + "\n"


def ts_soon(line: str) -> str:
    return json.dumps({**json.loads(line), "ts": "soon"}) + "\n"


# (case, damage, the file its line names, what else the line says)
DAMAGED: list[tuple[str, Callable[[Path], None], str, str]] = [
    ("a truncated result.json", lambda d: (d / "result.json").write_text((d / "result.json").read_text()[:300]),
     "result.json", "is not valid JSON"),
    ("result.json with wrong types", edit_json("result.json", lambda r: r["requests"].update(total="many")),
     "result.json", "requests.total: must be a whole number"),
    ("result.json of schema 99", edit_json("result.json", lambda r: r.update(schema=99)), "result.json",
     "schema: 99 is not a schema"),
    ("result.json that is null", damage_result("null\n"), "result.json", "must be an object"),
    ("result.json that is an array", damage_result("[1, 2]\n"), "result.json", "must be an object"),
    ("result.json with NaN", edit_json("result.json", lambda r: r["times"].update(detect_s=float("nan"))),
     "result.json", "NaN is not a JSON number"),
    ("result.json with a start that is no time", edit_json("result.json", lambda r: r.update(started_at="soon")),
     "result.json", "started_at: must be an RFC 3339 timestamp"),
    ("result.json nested 3000 deep", damage_result("[" * 3000 + "]" * 3000), "result.json", "too deeply"),
    ("a torn run.json", without_result(lambda d: (d / "run.json").write_text('{"run_id": "x", "scen')),
     "run.json", "is not valid JSON"),
    ("run.json without scenario_path", without_result(edit_json("run.json", lambda m: m.pop("scenario_path"))),
     "run.json", "scenario_path: is required"),
    ("run.json with a NUL in scenario_path",
     without_result(edit_json("run.json", lambda m: m.update(scenario_path="a\0b"))), "run.json", "scenario_path"),
    ("run.json started at a string", without_result(edit_json("run.json", lambda m: m.update(started="now"))),
     "run.json", "started: must be a time"),
    ("a timeline line without event", edit_line("timeline.jsonl", 2, no_event), "timeline.jsonl",
     "line 2: event must name"),
    ("a timeline ts of 'soon'", edit_line("timeline.jsonl", 3, ts_soon), "timeline.jsonl",
     "line 3: ts must be a number"),
    ("a timeline line that is no JSON", edit_line("timeline.jsonl", 4, lambda _: "{not json\n"), "timeline.jsonl",
     "line 4: is not JSON"),
    ("a timeline line that is an array", edit_line("timeline.jsonl", 1, lambda _: "[1]\n"), "timeline.jsonl",
     "line 1: is not a JSON object"),
    ("a request record with NaN", edit_line("requests.jsonl", 5, lambda ln: "[NaN" + ln[ln.index(","):]),
     "requests.jsonl", "line 5: not a request record"),
    ("a request record with Infinity", edit_line("requests.jsonl", 7, lambda ln: "[Infinity" + ln[ln.index(","):]),
     "requests.jsonl", "line 7: not a request record"),
    ("a rebuilt run whose records are damaged",
     without_result(edit_line("requests.jsonl", 9, lambda ln: ln.replace("200", "1e999", 1))),
     "requests.jsonl", "line 9: not a request record"),
]


@pytest.mark.parametrize(("damage", "file", "said"), [(d, f, s) for _, d, f, s in DAMAGED],
                         ids=[c for c, _, _, _ in DAMAGED])
def test_a_damaged_run_is_one_line_naming_the_file_and_the_good_report_stays(tmp_path, capsys, damage, file,
                                                                               said):
    run_dir = make_run(tmp_path)
    assert cli.main(["report", str(run_dir)]) == 0
    good = (run_dir / "report.html").read_text()
    capsys.readouterr()
    damage(run_dir)
    assert cli.main(["report", str(run_dir)]) == 2
    line = one_line(capsys.readouterr().err)
    assert str(run_dir / file) in line and said in line, line
    if file == "result.json":
        # A good report is never replaced by a rebuilt one; a rebuilt one says why it was.
        assert (run_dir / "report.html").read_text() == good
    rebuilt = run_dir / "report-rebuilt.html"
    if rebuilt.exists():
        assert "result.json is damaged" in rebuilt.read_text()


def test_a_report_that_cannot_be_written_names_its_path(tmp_path, capsys):
    run_dir = make_run(tmp_path)
    (run_dir / "report.html").mkdir()  # what a read-only or odd directory does to a write: it fails
    assert cli.main(["report", str(run_dir)]) == 2
    line = one_line(capsys.readouterr().err)
    assert f"{run_dir / 'report.html'}: cannot be written" in line
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == []  # no .tmp left


def test_trend_names_the_runs_it_left_out_and_counts_a_copied_run_once(tmp_path, capsys):
    first = make_run(tmp_path, started=1_799_990_000)
    make_run(tmp_path, started=1_799_980_000)
    shutil.copytree(first, tmp_path / "copy-of-first")
    broken = make_run(tmp_path, started=1_799_970_000)
    (broken / "result.json").write_text("{")
    assert cli.main(["trend", str(tmp_path)]) == 2
    line = one_line(capsys.readouterr().err)
    assert "left out of trend.html (2 left out in all)" in line
    html = (tmp_path / "trend.html").read_text()
    assert "2 completed runs" in html
    assert "is not valid JSON" in html and "again (counted once" in html


def test_a_reports_directory_that_is_a_file_is_one_line_and_nothing_is_made(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = tmp_path / "ok.toml"
    path.write_text(VALID)
    assert cli.main(["run", str(path), "--reports", str(blocker / "reports")]) == 2
    assert "the reports directory is not writable" in one_line(capsys.readouterr().err)
    assert blocker.read_text() == ""


def test_nothing_outside_the_state_directory_is_named_by_a_run_id(tmp_path):
    from harness.environment import state
    from harness.errors import InputError

    for bad in ("..", "../x", "/etc", "a/b"):
        with pytest.raises(InputError):
            state.run_directory(bad)
    made = state.claim("20261128T101500Z-mine", "rehearsal")
    assert state.run_directory(made).parent == state.runs_root()
    assert os.environ["GAMEDAY_STATE_DIR"] in str(state.runs_root())
