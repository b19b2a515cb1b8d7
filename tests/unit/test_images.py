import io
import json
import tarfile
from dataclasses import replace

from harness.config.target import find_target
from harness.environment.images import ImageSpec, db_spec, release_builds, supervisord_conf, tar_context, web_spec


def test_supervisord_runs_the_app_from_the_current_symlink_not_a_resolved_path():
    conf = supervisord_conf(find_target("shop"))
    assert "--chdir /srv/app/current " in conf
    assert "unix:/run/app/web.sock" in conf
    assert "releases/" not in conf
    assert "[program:web]" in conf and "[program:worker]" in conf and "[program:nginx]" in conf


def test_release_builds_lay_each_release_over_the_common_files():
    files = release_builds(find_target("shop"))
    assert b"coupon" in files["builds/v2/shop/schema.py"]
    assert b"coupon" not in files["builds/v1/shop/schema.py"]
    assert "builds/v2/migrations/002_add_coupon.up.sql" in files
    assert "builds/v1/migrations/002_add_coupon.up.sql" not in files
    assert "builds/bad-migration/migrations/002_drop_customer.up.sql" in files
    assert b"while True" in files["builds/hung-worker/shop/gateway.py"]


def test_image_tags_follow_the_context():
    a = ImageSpec("gameday-x", {"Dockerfile": b"FROM a"}, {"BASE_IMAGE": "debian:bookworm-slim"}, "x")
    same = ImageSpec("gameday-x", {"Dockerfile": b"FROM a"}, {"BASE_IMAGE": "debian:bookworm-slim"}, "x")
    other_file = ImageSpec("gameday-x", {"Dockerfile": b"FROM b"}, {"BASE_IMAGE": "debian:bookworm-slim"}, "x")
    other_base = ImageSpec("gameday-x", {"Dockerfile": b"FROM a"}, {"BASE_IMAGE": "debian:trixie-slim"}, "x")
    assert a.tag == same.tag
    assert a.tag.startswith("gameday-x:")
    assert len({a.tag, other_file.tag, other_base.tag}) == 3


def test_web_context_carries_the_deploy_tool_and_target_commands():
    spec = web_spec(find_target("shop"), "debian:bookworm-slim")
    assert spec.buildargs["BASE_IMAGE"] == "debian:bookworm-slim"
    assert "python3-psycopg2" in spec.buildargs["PACKAGES"]
    assert {"Dockerfile", "deploytool.py", "target.json", "pm/supervisord.conf", "nginx.conf"} <= set(spec.files)
    assert spec.buildargs["PROCESS_MANAGER_PACKAGES"] == "supervisor" and spec.buildargs["STOP_SIGNAL"] == "SIGTERM"
    assert spec.files["Dockerfile"].count(b"FROM ${BASE_IMAGE}") == 1
    assert db_spec("debian:bookworm-slim").files["Dockerfile"].count(b"FROM ${BASE_IMAGE}") == 1


def test_a_systemd_web_host_gets_units_for_the_app_and_systemds_stop_signal():
    shop = find_target("shop")
    target = replace(shop, run=replace(shop.run, process_manager="systemd"))
    spec = web_spec(target, "debian:bookworm-slim")
    assert spec.tag != web_spec(shop, "debian:bookworm-slim").tag
    assert not any(name.startswith("pm/supervisord") for name in spec.files)
    assert spec.buildargs["PROCESS_MANAGER_PACKAGES"] == "systemd systemd-sysv sudo"
    assert spec.buildargs["STOP_SIGNAL"] == "SIGRTMIN+3"
    web = spec.files["pm/web.service"].decode()
    assert "User=app" in web and "WorkingDirectory=/srv/app/current" in web and "Restart=on-failure" in web
    assert "ExecStart=gunicorn --chdir /srv/app/current --bind unix:/run/app/web.sock" in web
    assert "ExecReload=/bin/kill -HUP $MAINPID" in web and "TimeoutStopSec=15" in web
    # systemd's own burst of 5 starts, counted over 60 s so a slow crash loop still reaches it.
    assert "StartLimitBurst=5" in web and "StartLimitIntervalSec=60" in web
    assert "TimeoutStopSec=5" in spec.files["pm/worker.service"].decode()
    assert json.loads(spec.files["target.json"])["process_manager"] == "systemd"


def test_tar_context_round_trips():
    files = {"Dockerfile": b"FROM x\n", "entrypoint.sh": b"#!/bin/sh\n", "builds/v1/a.py": b"x = 1\n"}
    with tarfile.open(fileobj=tar_context(files)) as tar:
        got = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
        modes = {m.name: m.mode for m in tar.getmembers()}
    assert got == files
    assert modes["entrypoint.sh"] == 0o755
    assert isinstance(tar_context(files), io.BytesIO)
