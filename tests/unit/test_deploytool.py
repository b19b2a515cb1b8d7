import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.webhost import deploytool
from harness.webhost.deploytool import (
    DeployError,
    DeployLog,
    Layout,
    Lock,
    previous_release,
    release_id,
    releases_to_remove,
    render,
    swap,
)

NOW = datetime(2026, 11, 28, 10, 15, 0, tzinfo=UTC)


def test_release_id_is_a_utc_timestamp():
    assert release_id(NOW, []) == "20261128T101500Z"


def test_release_id_suffixes_a_taken_second():
    assert release_id(NOW, ["20261128T101500Z"]) == "20261128T101500Z-1"
    assert release_id(NOW, ["20261128T101500Z", "20261128T101500Z-1"]) == "20261128T101500Z-2"


def test_release_ids_sort_by_time_then_suffix():
    ids = ["20261128T101500Z-10", "20261128T101500Z", "20261128T101500Z-2", "20261127T000000Z"]
    assert sorted(ids, key=deploytool.release_sort_key) == [
        "20261127T000000Z", "20261128T101500Z", "20261128T101500Z-2", "20261128T101500Z-10",
    ]


def test_previous_release_skips_bad_ones():
    ordered = ["a", "b", "c", "d"]
    assert previous_release(ordered, "d", set()) == "c"
    assert previous_release(ordered, "d", {"c"}) == "b"
    assert previous_release(ordered, "a", set()) is None
    assert previous_release(ordered, None, set()) is None


def test_retention_keeps_the_newest():
    ordered = [f"r{i}" for i in range(8)]
    assert releases_to_remove(ordered, "r7", "r6", keep=3) == ["r0", "r1", "r2", "r3", "r4"]


def test_retention_never_removes_current_or_previous():
    ordered = [f"r{i}" for i in range(8)]
    # After a rollback to an old release, current and its predecessor are old.
    doomed = releases_to_remove(ordered, "r1", "r0", keep=2)
    assert "r0" not in doomed and "r1" not in doomed
    assert doomed == ["r2", "r3", "r4", "r5"]
    assert releases_to_remove(ordered, "r7", "r6", keep=0) == ["r0", "r1", "r2", "r3", "r4", "r5"]


def test_render_fills_placeholders_per_word():
    assert render("gunicorn --chdir {release} --bind unix:{socket} app:x", release="/r/1", socket="/s") == [
        "gunicorn", "--chdir", "/r/1", "--bind", "unix:/s", "app:x",
    ]


def layout(tmp_path: Path) -> Layout:
    lay = Layout(root=tmp_path / "app", builds=tmp_path / "builds", run=tmp_path / "run")
    for rid in ("20261128T100000Z", "20261128T101500Z"):
        (lay.releases / rid).mkdir(parents=True)
    lay.shared.mkdir(parents=True)
    return lay


def test_swap_points_current_at_a_relative_release(tmp_path):
    lay = layout(tmp_path)
    swap(lay, "20261128T100000Z")
    assert os.readlink(lay.current) == "releases/20261128T100000Z"
    swap(lay, "20261128T101500Z")
    assert os.readlink(lay.current) == "releases/20261128T101500Z"
    assert lay.current.resolve() == (lay.releases / "20261128T101500Z").resolve()
    assert not (lay.root / "current.tmp").exists()


def test_swap_is_a_rename_so_current_never_disappears(tmp_path, monkeypatch):
    lay = layout(tmp_path)
    swap(lay, "20261128T100000Z")
    seen = []
    real_replace = os.replace

    def watching_replace(src, dst):
        seen.append(os.readlink(lay.current))  # current still there just before the rename
        real_replace(src, dst)

    monkeypatch.setattr(deploytool.os, "replace", watching_replace)
    swap(lay, "20261128T101500Z")
    assert seen == ["releases/20261128T100000Z"]


def test_lock_is_exclusive_while_its_owner_lives(tmp_path):
    lock = Lock(tmp_path / "deploy.lock")
    assert lock.acquire("deploy") == ""
    with pytest.raises(DeployError) as err:
        Lock(tmp_path / "deploy.lock").acquire("rollback")
    assert err.value.code == 2
    assert f"pid {os.getpid()}" in str(err.value)
    lock.release()
    assert Lock(tmp_path / "deploy.lock").acquire("deploy") == ""


def test_lock_breaks_when_its_owner_is_gone(tmp_path):
    path = tmp_path / "deploy.lock"
    path.mkdir()
    (path / "owner.json").write_text(json.dumps({"pid": 2**22 + 12345, "started": 0, "action": "deploy"}))
    note = Lock(path).acquire("deploy")
    assert "broke stale lock" in note
    assert json.loads((path / "owner.json").read_text())["pid"] == os.getpid()


def test_lock_breaks_when_too_old(tmp_path):
    path = tmp_path / "deploy.lock"
    path.mkdir()
    (path / "owner.json").write_text(json.dumps({"pid": 1, "started": 0}))
    assert "broke stale lock" in Lock(path, stale_after_s=60).acquire("deploy")


def test_deploy_log_writes_one_json_line_per_step(tmp_path):
    out = tmp_path / "out.txt"
    with out.open("w") as fh:
        log = DeployLog(tmp_path / "log" / "deploy.jsonl", "deploy", out=fh)
        with log.step("migrate", "r1") as detail:
            detail.append("applied 002")
        with pytest.raises(DeployError):
            with log.step("gate", "r1"):
                raise DeployError("health gate: /health not healthy")
    lines = [json.loads(x) for x in (tmp_path / "log" / "deploy.jsonl").read_text().splitlines()]
    assert [(x["step"], x["ok"], x["detail"]) for x in lines] == [
        ("migrate", True, "applied 002"),
        ("gate", False, "health gate: /health not healthy"),
    ]
    assert set(lines[0]) >= {"ts", "step", "release", "ok", "duration_s", "detail"}
    assert lines[0]["ts"].endswith("Z")


def test_summarize_health_names_the_failed_check():
    body = json.dumps({"failed": ["db"], "checks": {"db": {"ok": False, "detail": "database \"x\" does not exist"}}})
    assert deploytool.summarize_health(body) == 'failed db: database "x" does not exist'
