"""The replica's images: build contexts as plain values, then a cached build with the
Docker SDK. An image is tagged with the hash of its context, so an unchanged context
builds nothing."""

from __future__ import annotations

import fcntl
import io
import json
import tarfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from harness.config.sources import cache_root, digest
from harness.config.target import Target
from harness.environment.baseimage import ensure_base_image
from harness.errors import StagingError

DOCKERFILES = Path(__file__).parent / "dockerfiles"
DEPLOY_TOOL = Path(__file__).resolve().parent.parent / "webhost" / "deploytool.py"
DEFAULT_BASE_IMAGE = "debian:bookworm-slim"
WEB_SOCKET = "/run/app/web.sock"
CURRENT = "/srv/app/current"
IMAGE_LABEL = "gameday.image"

Files = Mapping[str, bytes]


@dataclass(frozen=True)
class ImageSpec:
    """One image to build: its repository name, context files and build arguments."""

    repository: str
    files: Files
    buildargs: Mapping[str, str]
    role: str

    @property
    def tag(self) -> str:
        return f"{self.repository}:{digest(dict(self.files), json.dumps(dict(self.buildargs), sort_keys=True))}"


@dataclass(frozen=True)
class Images:
    web: str
    db: str


def app_program(name: str, command: str, stopwaitsecs: int) -> str:
    """A supervisord program run as `app` from `current`, started by the first deploy.

    `stopwaitsecs` is how long a stop waits before SIGKILL (supervisord's default is 10).
    `startsecs=1` and `startretries=3` are supervisord's own defaults, as on a team's VM: a
    program that exits within a second of starting counts as a failed start, and after
    three it is FATAL and stays down until someone starts it (supervisord docs, "Process
    States").
    """
    return f"""
[program:{name}]
command={command}
directory={CURRENT}
user=app
autostart=false
startsecs=1
startretries=3
autorestart=true
stopsignal=TERM
stopwaitsecs={stopwaitsecs}
stdout_logfile=/srv/app/shared/log/{name}.log
redirect_stderr=true
"""


def supervisord_conf(target: Target) -> str:
    """supervisord runs nginx, sshd, the app server and the worker (when the target has one).

    Its socket is open to the `deploy` group, so a team's deploy commands can reload the app
    over SSH (`supervisorctl signal HUP web`) as they would on their VM.
    """
    web = target.run.web.format(release=CURRENT, socket=WEB_SOCKET)
    worker = "" if target.run.worker is None else app_program("worker", target.run.worker, 5)
    return """\
[supervisord]
nodaemon=true
user=root
logfile=/srv/app/shared/log/supervisord.log
pidfile=/run/supervisord.pid

[unix_http_server]
file=/run/supervisor.sock
chmod=0770
chown=root:deploy

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix:///run/supervisor.sock

[program:nginx]
command=nginx -g "daemon off;"
autostart=true
autorestart=true
stdout_logfile=/srv/app/shared/log/nginx.log
redirect_stderr=true

[program:sshd]
command=/usr/sbin/sshd -D -e
autostart=true
autorestart=true
stdout_logfile=/srv/app/shared/log/sshd.log
redirect_stderr=true
""" + app_program("web", web, 15) + worker


def systemd_unit(name: str, description: str, command: str, stop_timeout_s: int) -> str:
    """A systemd service run as `app` from `current`, started by the first deploy (it is not
    enabled), with systemd's own defaults for what the catalogue rehearses: `Restart=
    on-failure`, and a start limit of 5 starts (DefaultStartLimitBurst), after which a start
    is refused ("Start request repeated too quickly") until `systemctl reset-failed`
    (systemd.unit(5)). The interval they count in is 60 s, not the default 10 s: a crash
    loop on a busy host can take longer than 2 s a start, and under 10 s it would never
    reach the limit the catalogue's start-limit scenario rehearses. A stop sends
    SIGTERM and, after TimeoutStopSec, SIGKILL (systemd.kill(5)). ExecReload is a HUP,
    gunicorn's graceful reload."""
    return f"""\
[Unit]
Description={description}
StartLimitIntervalSec=60
StartLimitBurst=5

[Service]
User=app
Group=app
WorkingDirectory={CURRENT}
EnvironmentFile=/srv/app/shared/.env
ExecStart={command}
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
TimeoutStopSec={stop_timeout_s}
StandardOutput=append:/srv/app/shared/log/{name}.log
StandardError=inherit
"""


def process_manager_files(target: Target) -> dict[str, bytes]:
    """The process manager's configuration, under `pm/` in the web image's context: the
    web host's Dockerfile installs what is there for the target's process manager."""
    web = target.run.web.format(release=CURRENT, socket=WEB_SOCKET)
    if target.run.process_manager == "systemd":
        units = {"web": systemd_unit("web", "the app server", web, 15)}
        if target.run.worker is not None:
            units["worker"] = systemd_unit("worker", "the background worker", target.run.worker, 5)
        return {f"pm/{name}.service": text.encode() for name, text in units.items()}
    return {"pm/supervisord.conf": supervisord_conf(target).encode()}


def release_builds(target: Target) -> dict[str, bytes]:
    """Each release's files as the deploy tool will copy them, and `builds/ORDER`: the
    release names in deploy order, one a line, for the published git repository."""
    files: dict[str, bytes] = {}
    for release in target.releases:
        files.update({f"builds/{release}/{name}": data for name, data in target.source.files(release).items()})
    files["builds/ORDER"] = "".join(f"{release}\n" for release in target.releases).encode()
    return files


def web_spec(target: Target, base_image: str) -> ImageSpec:
    here = DOCKERFILES / "web"
    commands = {
        "web": target.run.web,
        "worker": target.run.worker,
        "health_path": target.run.health_path,
        "gate_path": target.run.gate_path,
        "version_path": target.run.version_path,
        "migrate": target.run.migrate,
        "down_migrate": target.run.down_migrate,
        "build": list(target.build.commands),
        "process_manager": target.run.process_manager,
    }
    files = {
        "Dockerfile": (here / "Dockerfile").read_bytes(),
        "nginx.conf": (here / "nginx.conf").read_bytes(),
        "entrypoint.sh": (here / "entrypoint.sh").read_bytes(),
        "publish-releases.sh": (here / "publish-releases.sh").read_bytes(),
        "sshd.conf": (here / "sshd.conf").read_bytes(),
        **process_manager_files(target),
        "deploytool.py": DEPLOY_TOOL.read_bytes(),
        "target.json": json.dumps(commands, indent=2).encode(),
        **release_builds(target),
    }
    systemd = target.run.process_manager == "systemd"
    buildargs = {
        "BASE_IMAGE": base_image, "PACKAGES": " ".join(target.packages),
        "PROCESS_MANAGER": target.run.process_manager,
        # sudo: the deploy user's commands reach systemctl as they would on a team's VM.
        "PROCESS_MANAGER_PACKAGES": "systemd systemd-sysv sudo" if systemd else "supervisor",
        # systemd as PID 1 shuts down on SIGRTMIN+3 (systemd(1), "Signals").
        "STOP_SIGNAL": "SIGRTMIN+3" if systemd else "SIGTERM",
    }
    return ImageSpec(f"gameday-web-{target.name}", files, buildargs, "web")


def db_spec(base_image: str) -> ImageSpec:
    here = DOCKERFILES / "db"
    files = {name: (here / name).read_bytes() for name in ("Dockerfile", "entrypoint.sh")}
    return ImageSpec("gameday-db", files, {"BASE_IMAGE": base_image}, "db")


def tar_context(files: Files) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            # Scripts stay runnable in a release (a team's bin/build, manage.py): a file that
            # starts with #! is executable, as a checkout would have it.
            info.mode = 0o755 if name.endswith(".sh") or files[name].startswith(b"#!") else 0o644
            tar.addfile(info, io.BytesIO(files[name]))
    buf.seek(0)
    return buf


def build(client: docker.DockerClient, spec: ImageSpec, say: Callable[[str], None]) -> str:
    """Build `spec` unless an image with its tag exists; returns the tag."""
    tag = spec.tag
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    say(f"building {tag}")
    log: list[str] = []
    try:
        stream = client.api.build(
            fileobj=tar_context(spec.files), custom_context=True, tag=tag, rm=True, forcerm=True,
            buildargs=dict(spec.buildargs), labels={IMAGE_LABEL: spec.role}, decode=True,
        )
        for chunk in stream:
            if "stream" in chunk:
                log.extend(line for line in chunk["stream"].splitlines() if line.strip())
            if "error" in chunk:
                raise StagingError(f"building {tag} failed: {chunk['error'].strip()}", log_tail=log[-5:])
    except docker.errors.APIError as exc:
        raise StagingError(f"building {tag} failed: {exc.explanation or exc}", log_tail=log[-5:]) from exc
    return tag


def ensure_images(
    client: docker.DockerClient, target: Target, base_image: str, say: Callable[[str], None]
) -> Images:
    web, db = web_spec(target, base_image), db_spec(base_image)
    # One build at a time on this machine: two gameday processes started together (a
    # nightly's runs, two test workers) wait for each other's images instead of
    # bootstrapping the base image twice.
    # Images that exist are used at once, without waiting for another process's build.

    def missing() -> list[ImageSpec]:
        found = []
        for spec in (web, db):
            try:
                client.images.get(spec.tag)
            except docker.errors.ImageNotFound:
                found.append(spec)
        return found

    if missing():
        lock_path = cache_root() / "images.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if missing():  # another process may have built them while this one waited
                ensure_base_image(client, base_image, say)
            # Both builds mostly wait on the mirror, so they overlap well even on two cores.
            with ThreadPoolExecutor(max_workers=2) as pool:
                list(pool.map(lambda spec: build(client, spec, say), (web, db)))
    return Images(web=web.tag, db=db.tag)
