"""Broken scenario files, generated: each exits 2 with one line naming the file (and the
key when there is one), and never reaches Docker."""

from __future__ import annotations

import copy
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import cli
from harness.rehearsal.catalogue import load_scenario

TINY = Path(__file__).resolve().parents[1] / "targets" / "tiny" / "target.toml"
VALID: dict[str, Any] = {
    "description": "fuzz",
    "fault": {"kind": "deploy", "release": "v2", "gate": True},
    "load": {"users": 10, "spawn_rate": 10, "latency_limit_ms": 1000},
    "detectors": {"error_rate": {"window_s": 1.0, "threshold": 0.2, "min_requests": 3},
                  "health": {"interval_s": 1.0}},
    "recovery": {"mode": "auto", "trigger": "alarm", "db": "never", "code_window_s": 3},
    "targets": {"time_to_detect_s": 5, "failed_requests": 10, "lost_jobs": 0},
    "phases": {"baseline_s": 3, "stable_s": 2, "detect_timeout_s": 30},
}
PATHS = [(section, key) for section, value in VALID.items() if isinstance(value, dict)
         for key in value if not isinstance(value[key], dict)]
PATHS += [("detectors.error_rate", k) for k in VALID["detectors"]["error_rate"]]
PATHS += [("detectors.health", "interval_s")]

not_a_number = st.one_of(st.text(max_size=8), st.booleans(), st.lists(st.integers(), max_size=2),
                         st.just({"x": 1}))
# Targets may be 0 and have no upper bound; every other number here must be above 0 and bounded.
bad_target = st.one_of(st.just(-1), st.just(-0.5), not_a_number)
bad_values = st.one_of(st.just(-1), st.just(0), st.just(-0.5), st.just(10**9), st.just(1e300), not_a_number)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return '"' + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in escaped) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def dump(data: dict[str, Any], prefix: str = "") -> str:
    out = "".join(f"{k} = {toml_value(v)}\n" for k, v in data.items() if not isinstance(v, dict))
    for key, value in data.items():
        if isinstance(value, dict):
            out += f"[{prefix}{key}]\n" + dump(value, f"{prefix}{key}.")
    return out


def get_table(data: dict[str, Any], dotted: str) -> dict[str, Any]:
    table = data
    for part in dotted.split("."):
        table = table[part]
    return table


@st.composite
def broken_scenarios(draw: st.DrawFn) -> tuple[str, str | None]:
    """A TOML text and the key its error must name (None: the file as a whole)."""
    data = copy.deepcopy(VALID)
    kind = draw(st.sampled_from(["wrong_value", "unknown_key", "missing_release", "unknown_fault", "malformed",
                                 "no_detectors", "absurd_load", "missing_fault", "plan_unknown_release",
                                 "plan_and_fault", "plan_without_steps", "plan_step_unknown_key",
                                 "flag_without_store", "flag_bad_percent", "log_without_logs", "huge_number",
                                 "deep", "nul_byte"]))
    if kind == "huge_number":
        # Digits no float holds, positive or negative, in any numeric key.
        section, key = draw(st.sampled_from([p for p in PATHS if p[1] not in ("kind", "mode", "trigger", "db",
                                                                               "description", "gate", "release")]))
        digits = draw(st.integers(min_value=309, max_value=2000))
        text = dump(data).replace(f"{key} = {toml_value(get_table(data, section)[key])}",
                                  f"{key} = {draw(st.sampled_from(['', '-']))}{'7' * digits}", 1)
        return text, f"{section}.{key}"
    if kind == "deep":
        depth = draw(st.integers(min_value=1200, max_value=6000))
        opener, closer = draw(st.sampled_from([("[", "]"), ("{a = ", "}")]))
        inner = "1" if opener.startswith("{") else ""
        return dump(data) + "zz = " + opener * depth + inner + closer * depth + "\n", None
    if kind == "nul_byte":
        key = draw(st.sampled_from(["target", "description", "start_release"]))
        value = draw(st.text(alphabet="abc/.", max_size=5)) + "\x00" + draw(st.text(alphabet="abc", max_size=5))
        data.pop(key, None)
        return f"{key} = {toml_value(value)}\n" + dump(data), key
    if kind == "malformed":
        text = dump(data)
        cut = draw(st.integers(min_value=1, max_value=len(text) - 1))
        return text[:cut] + draw(st.sampled_from(["[[", "= =", "\x00", "[fault\n", 'x = "'])), None
    if kind == "wrong_value":
        section, key = draw(st.sampled_from(PATHS))
        value = draw(bad_target if section == "targets" else bad_values)
        table = get_table(data, section)
        if key in ("kind", "mode", "trigger", "db") and isinstance(value, str):
            value = value + "-nope"
        if key == "description" or (key == "gate" and isinstance(value, bool)):
            value = 12345
        table[key] = value
        return dump(data), f"{section}.{key}"
    if kind == "unknown_key":
        section = draw(st.sampled_from(["", "fault", "load", "recovery", "targets", "phases",
                                        "detectors.error_rate"]))
        key = "zz_" + draw(st.from_regex(r"[a-z]{1,8}", fullmatch=True))
        (get_table(data, section) if section else data)[key] = 1
        return dump(data), f"{section}.{key}" if section else key
    if kind == "missing_release":
        data["fault"]["release"] = draw(st.sampled_from(["v3", "prod", "v1-hotfix"]))
        return dump(data), "fault.release"
    if kind == "unknown_fault":
        data["fault"]["kind"] = draw(st.sampled_from(["meteor", "network", "DEPLOY"]))
        return dump(data), "fault.kind"
    if kind == "no_detectors":
        del data["detectors"]
        return dump(data), "detectors"
    if kind == "missing_fault":
        del data["fault"]
        return dump(data), "fault"
    if kind == "flag_without_store":
        # The tiny test target has no [flags] store to flip a flag with.
        data["target"] = str(TINY)
        data["fault"] = {"kind": "flag", "flag": "new_checkout", "percent": draw(st.integers(1, 100))}
        return dump(data), "fault.kind"
    if kind == "log_without_logs":
        # The tiny test target declares no [logs] for a log detector to read.
        data["target"] = str(TINY)
        data["detectors"]["log"] = {"status_min": draw(st.integers(500, 599)), "count": 3}
        return dump(data), "detectors.log.log"
    if kind == "flag_bad_percent":
        data["fault"] = {"kind": "flag", "flag": "new_checkout",
                         "percent": draw(st.one_of(st.just(0), st.just(101), st.just([]), st.just([5, 500]),
                                                   st.just("half")))}
        return dump(data), "fault.percent"
    if kind.startswith("plan_"):
        # A plan in place of the fault: its steps are an array of tables.
        steps = [{"name": "expand", "release": "rename-expand"}, {"name": "contract", "release": "rename-contract"}]
        plan: dict[str, Any] = {"settle_s": 1, "steps": steps}
        if kind != "plan_and_fault":
            del data["fault"]
        data["plan"] = plan
        if kind == "plan_and_fault":
            return dump(data), "plan"
        if kind == "plan_without_steps":
            plan["steps"] = []
            return dump(data), "plan.steps"
        index = draw(st.integers(min_value=0, max_value=1))
        if kind == "plan_step_unknown_key":
            unknown = "zz_" + draw(st.from_regex(r"[a-z]{1,8}", fullmatch=True))
            steps[index][unknown] = 1
            return dump(data), f"plan.steps[{index + 1}].{unknown}"
        steps[index]["release"] = draw(st.sampled_from(["v3", "rename-everything", "prod"]))
        return dump(data), f"plan.steps[{index + 1}].release"
    data["load"]["users"] = draw(st.integers(min_value=501, max_value=10**7))
    return dump(data), "load.users"


def test_the_valid_base_scenario_is_valid(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text(dump(VALID))
    assert tomllib.loads(path.read_text()) == VALID
    assert load_scenario(path).fault.release == "v2"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=broken_scenarios())
def test_every_broken_scenario_exits_2_naming_file_and_key(case, capsys, monkeypatch):
    text, key = case

    def no_docker() -> None:
        raise AssertionError("a broken scenario must not reach Docker")

    monkeypatch.setattr("harness.environment.replica.connect", no_docker)  # cli imports it when it runs
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzzed.toml"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        code = cli.main(["run", str(path), "--reports", str(Path(tmp) / "reports")])
        err = capsys.readouterr().err
        assert code == 2, (text, err)
        assert err.count("\n") == 1, err
        assert str(path) in err
        if key is not None:
            assert re.search(rf"{re.escape(str(path))}: {re.escape(key)}: ", err), (key, err)
        assert not (Path(tmp) / "reports").exists() or not any((Path(tmp) / "reports").iterdir())


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n"])
def test_empty_files_name_what_is_missing(tmp_path, capsys, text):
    path = tmp_path / "empty.toml"
    path.write_text(text)
    assert cli.main(["run", str(path)]) == 2
    assert f"{path}: fault: is required" in capsys.readouterr().err
