"""The staging replica in Docker: create it, find it by its labels, run commands in it,
and remove it. Every Docker call gameday makes on a replica lives here; the rehearsal
reaches it only through `ReplicaEnvironment`, the Docker member of the environment seam."""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from harness.config.target import Target
from harness.environment import Access, CommandResult, buildcache, ssh, state
from harness.environment.images import CURRENT, Images
from harness.errors import DeployToolError, DockerUnavailable, StagingError
from harness.redaction import keep_secret
from harness.results.runid import check_run_id, is_run_id
from harness.results.runid import new_run_id as new_run_id  # re-exported for the CLI and tests

RUN_LABEL = "gameday.run"
SCENARIO_LABEL = "gameday.scenario"
TARGET_LABEL = "gameday.target"
# How the replica's releases go live (the target's [deploy], as JSON), so `gameday
# rollback --run` runs the target's own deploy tool without reading the target again.
DEPLOY_LABEL = "gameday.deploy"
ROLE_LABEL = "gameday.role"
# Who made a replica: `run` (a live gameday process, swept once it is gone) or `up` (the
# user's, removed with `gameday down`), on which machine, as which user (uid), by which
# process (its pid, and when it started: pids are reused).
OWNER_LABEL = "gameday.owner"
PID_LABEL = "gameday.pid"
PID_START_LABEL = "gameday.pid_start"
HOST_LABEL = "gameday.host"
USER_LABEL = "gameday.user"
# The run directory of a rehearsal, so `gameday rollback` can time an operator's commands.
REPORTS_LABEL = "gameday.reports"
DB_USER = "app"
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class WebHost:
    """What the web container needs for its process manager, and how to see it is up.

    `ready(service)` is a command that succeeds once nginx or sshd runs; `exited` is the one
    line to show when the container exits before that."""

    name: str
    readiness: tuple[str, ...]
    services: Mapping[str, str]  # gameday's name for a service -> the manager's
    tmpfs: Mapping[str, str]
    volumes: Mapping[str, Mapping[str, str]]
    exited: str | None = None

    def ready(self, service: str) -> list[str]:
        return [*self.readiness, self.services.get(service, service)]


WEB_HOSTS = {
    "supervisord": WebHost("supervisord", ("sh", "-c", 'supervisorctl status "$0" | grep -q RUNNING'), {}, {}, {}),
    # systemd as PID 1 without privileges: its own /run and /run/lock, and the cgroup tree
    # read-only (systemd's "Container Interface"; Docker's defaults for everything else).
    "systemd": WebHost(
        "systemd", ("systemctl", "is-active", "--quiet"), {"sshd": "ssh"},
        {"/run": "", "/run/lock": ""}, {"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "ro"}},
        exited="systemd could not boot as PID 1 in an unprivileged container on this Docker engine "
               "(it needs cgroup v2, a tmpfs on /run and /sys/fs/cgroup read-only)",
    ),
}
DEPLOY_TO = str(Path(CURRENT).parent)
REPO_URL = "/srv/git/releases.git"  # published in the web image, one tag per release
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"

Say = Callable[[str], None]


def connect() -> docker.DockerClient:
    """A Docker client that has answered a ping."""
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        raise DockerUnavailable(f"cannot reach the Docker daemon: {str(exc).splitlines()[0][:200]}") from exc
    return client


def owner_labels(kind: str) -> dict[str, str]:
    """Who made a replica: `run` replicas belong to a live gameday process, `up` ones to the user."""
    start = state.process_start(os.getpid())
    return {OWNER_LABEL: kind, PID_LABEL: str(os.getpid()), PID_START_LABEL: "" if start is None else str(start),
            HOST_LABEL: socket.gethostname(), USER_LABEL: str(os.getuid())}


def made_here(found: Mapping[str, str]) -> bool:
    """Whether labels say this machine's user made the resource: `down --all` and the
    sweep act on nothing else (not another user's replica, nor one of another machine
    sharing the engine, nor one whose maker is not recorded)."""
    return found.get(HOST_LABEL) == socket.gethostname() and found.get(USER_LABEL) == str(os.getuid())


def maker_gone(found: Mapping[str, str]) -> bool:
    """Whether the gameday process a `run` resource's labels name has ended on this machine."""
    pid, start = found.get(PID_LABEL, ""), found.get(PID_START_LABEL, "")
    if not pid.isdigit():
        return False
    return not state.alive(int(pid), int(start) if start.isdigit() else None)


def not_another_users(found: Mapping[str, str]) -> bool:
    """A resource this user may remove by its run id: labelled with this user, or made before
    gameday labelled its user."""
    return found.get(USER_LABEL) in (None, str(os.getuid()))


def labels(run_id: str, scenario: str, target: str, role: str | None = None) -> dict[str, str]:
    found = {RUN_LABEL: run_id, SCENARIO_LABEL: scenario, TARGET_LABEL: target}
    if role:
        found[ROLE_LABEL] = role
    return found


# Each process in the web host whose working directory is a release other than the one
# `current` points to, as "PID DIR COMMAND": what a wrapper that does not exec, or an app
# server started through the resolved path, leaves behind. A process's cwd is readable
# only by its own user here (no CAP_SYS_PTRACE), so it is read as that user.
STRAY_PROCESSES = r"""
cur=$(readlink -f /srv/app/current) || exit 0
for p in /proc/[0-9]*; do
  u=$(stat -c %U "$p" 2>/dev/null) || continue
  if [ "$u" = root ]; then c=$(readlink "$p/cwd" 2>/dev/null)
  else c=$(runuser -u "$u" -- readlink "$p/cwd" 2>/dev/null); fi
  case "$c" in
    "$cur"|"$cur"/*) ;;
    /srv/app/releases/*) echo "${p#/proc/} $c $(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)";;
  esac
done
true
"""


@dataclass(frozen=True)
class Replica:
    """A replica that exists: its run id, containers and loopback URL."""

    run_id: str
    scenario: str
    target: str
    web: str
    db: str
    url: str
    db_port: int | None = None
    ssh_port: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


def published_port(container: Container, port: str) -> int | None:
    bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(port) or []
    for binding in bindings:
        if binding.get("HostIp") in ("127.0.0.1", "") and binding.get("HostPort"):
            return int(binding["HostPort"])
    return None


class Staging:
    """Creates, finds and removes replicas through one Docker client."""

    def __init__(self, client: docker.DockerClient, say: Say = print) -> None:
        self.client = client
        self.say = say

    # --- create ---------------------------------------------------------------

    def create(
        self, target: Target, images: Images, run_id: str, scenario: str, extra_labels: Mapping[str, str] = {}
    ) -> Replica:
        """Start the database and the web host; on any failure remove what was made. The run
        id is held in gameday's state directory first: no two replicas on this machine share it."""
        check_run_id(run_id, "run id")
        if self.run_ids().count(run_id):
            raise StagingError(f"a replica with run id {run_id} exists already")
        state.hold(run_id, extra_labels.get(OWNER_LABEL, "unowned"))
        try:
            return self._create(target, images, run_id, scenario, extra_labels)
        except BaseException:
            self.remove(run_id)
            raise

    def _create(
        self, target: Target, images: Images, run_id: str, scenario: str, extra_labels: Mapping[str, str]
    ) -> Replica:
        password = secrets.token_urlsafe(18)
        keep_secret([password])
        host = WEB_HOSTS[target.run.process_manager]
        net_name = f"gameday-{run_id}"
        keys = ssh.generate(run_id)
        cache = buildcache.directory(target) if target.build.fetch or target.build.commands else None
        mounts = {str(cache): {"bind": buildcache.BUILD_CACHE, "mode": "ro"}} if cache else {}
        try:
            network = self.client.networks.create(
                net_name, driver="bridge", labels={**labels(run_id, scenario, target.name), **extra_labels}
            )
            volume = self.client.volumes.create(
                f"gameday-{run_id}-pgdata", labels={**labels(run_id, scenario, target.name, "db"), **extra_labels}
            )
            db = self.client.containers.run(
                images.db,
                name=f"gameday-{run_id}-db",
                detach=True,
                labels={**labels(run_id, scenario, target.name, "db"), **extra_labels},
                environment={"POSTGRES_USER": DB_USER, "POSTGRES_PASSWORD": password, "POSTGRES_DB": target.database},
                volumes={volume.name: {"bind": "/var/lib/postgresql/data", "mode": "rw"}},
                ports={"5432/tcp": ("127.0.0.1", None)},
                network=network.name,
                privileged=False,
            )
            web = self.client.containers.run(
                images.web,
                name=f"gameday-{run_id}-web",
                detach=True,
                labels={**labels(run_id, scenario, target.name, "web"), **extra_labels,
                        DEPLOY_LABEL: target.deploy.to_json()},
                environment={
                    # Container names resolve on a user-defined network.
                    "PGHOST": db.name, "PGPORT": "5432", "PGUSER": DB_USER,
                    "PGPASSWORD": password, "PGDATABASE": target.database,
                    "GAMEDAY_AUTHORIZED_KEY": keys.public.read_text().strip() if keys else "",
                },
                ports={"80/tcp": ("127.0.0.1", None), "22/tcp": ("127.0.0.1", None)},
                volumes={**mounts, **host.volumes},
                tmpfs=host.tmpfs,
                network=network.name,
                privileged=False,
            )
        except docker.errors.APIError as exc:
            raise StagingError(f"could not start the replica: {exc.explanation or exc}") from exc
        self.wait_ready(db, ["pg_isready", "-q", "-h", "127.0.0.1"], "PostgreSQL")
        self.wait_ready(web, host.ready("nginx"), host.name, exited=host.exited)
        replica = self.find(run_id)
        if keys is not None and replica.ssh_port is not None:
            self.wait_ready(web, host.ready("sshd"), "sshd")
            ssh.write_client_files(keys, replica.ssh_port, self.exec(web.name, ["cat", HOST_KEY]))
        return replica

    def wait_ready(self, container: Container, argv: list[str], what: str, expect: str = "",
                   exited: str | None = None) -> None:
        """Wait until `argv` in the container exits 0 with `expect` in its output; raises
        StagingError after READY_TIMEOUT_S, or as soon as the container exits (with
        `exited` as the message when given)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            container.reload()
            if container.status not in ("created", "running"):
                if exited is not None:
                    tail = container.logs(tail=3).decode(errors="replace").splitlines()
                    last = tail[-1].strip() if tail else f"exit status {container.attrs['State'].get('ExitCode')}"
                    raise StagingError(f"{exited} ({last})", container=container.name)
                break
            result = container.exec_run(argv)
            if result.exit_code == 0 and expect.encode() in (result.output or b""):
                return
            time.sleep(0.2)
        tail = container.logs(tail=5).decode(errors="replace").splitlines()
        raise StagingError(
            f"{what} did not become ready", container=container.name, command=argv, log_tail=tail
        )

    # --- find -----------------------------------------------------------------

    def containers(self, run_id: str | None = None) -> list[Container]:
        wanted = f"{RUN_LABEL}={run_id}" if run_id else RUN_LABEL
        for attempt in range(5):
            try:
                return list(self.client.containers.list(all=True, filters={"label": wanted}))
            except docker.errors.NotFound:
                # Listed, then removed before docker-py looked at it: list again.
                time.sleep(0.05 * (attempt + 1))
        return list(self.client.containers.list(all=True, filters={"label": wanted}, ignore_removed=True))

    def resource_labels(self) -> list[Mapping[str, str]]:
        """The labels of every gameday container, network and volume on the engine."""
        found: list[Mapping[str, str]] = [c.labels for c in self.containers()]
        found += [n.attrs.get("Labels") or {} for n in self._networks(None)]
        found += [v.attrs.get("Labels") or {} for v in self._volumes(None)]
        return found

    def run_ids(self, wanted: Callable[[Mapping[str, str]], bool] = lambda labels: True) -> list[str]:
        """Every run that has any labelled container, network or volume (whose labels
        `wanted` takes); a label that is not a run id is not one."""
        return sorted({found[RUN_LABEL] for found in self.resource_labels()
                       if is_run_id(found.get(RUN_LABEL)) and wanted(found)})

    def find(self, run_id: str | None = None) -> Replica:
        """The replica of `run_id`, or the only one there is."""
        if run_id is None:
            runs = sorted({c.labels[RUN_LABEL] for c in self.containers() if is_run_id(c.labels.get(RUN_LABEL))})
            if not runs:
                raise StagingError("no replica is running; start one with `gameday up`")
            if len(runs) > 1:
                raise StagingError(f"{len(runs)} replicas are running ({', '.join(runs)}); choose one with --run")
            run_id = runs[0]
        check_run_id(run_id)
        found = self.containers(run_id)
        if not found:
            raise StagingError(f"no replica {run_id} on this Docker engine (`docker ps --filter label={RUN_LABEL}` "
                               "lists gameday's)")
        by_role = {c.labels.get(ROLE_LABEL): c for c in found}
        web, db = by_role.get("web"), by_role.get("db")
        if web is None or db is None:
            raise StagingError(f"replica {run_id} is incomplete; remove it with `gameday down --run {run_id}`")
        port = published_port(web, "80/tcp")
        if port is None:
            raise StagingError(f"replica {run_id} has no loopback port for its web host", container=web.name)
        return Replica(
            run_id=run_id,
            scenario=web.labels.get(SCENARIO_LABEL, ""),
            target=web.labels.get(TARGET_LABEL, ""),
            web=web.name,
            db=db.name,
            url=f"http://127.0.0.1:{port}",
            db_port=published_port(db, "5432/tcp"),
            ssh_port=published_port(web, "22/tcp"),
            labels=dict(web.labels),
        )

    # --- act ------------------------------------------------------------------

    def deploy_tool(self, replica: Replica, args: Sequence[str], echo: Say | None = None) -> CommandResult:
        """Run the deploy tool in the web host; `echo` gets its stdout line by line."""
        argv = ["deploy", *args]
        api = self.client.api
        try:
            exec_id = api.exec_create(replica.web, argv, stdout=True, stderr=True)["Id"]
            out: list[str] = []
            err: list[str] = []
            pending = ""
            for stdout, stderr in api.exec_start(exec_id, stream=True, demux=True):
                if stderr:
                    err.append(stderr.decode(errors="replace"))
                if stdout:
                    text = stdout.decode(errors="replace")
                    out.append(text)
                    pending += text
                    *lines, pending = pending.split("\n")
                    for line in lines:
                        if echo:
                            echo(line)
            if pending and echo:
                echo(pending)
            status = api.exec_inspect(exec_id)["ExitCode"]
        except docker.errors.APIError as exc:
            raise StagingError(f"could not run the deploy tool: {exc.explanation or exc}",
                               container=replica.web, command=argv) from exc
        return CommandResult(tuple(argv), int(status or 0), "".join(out), "".join(err))

    def deploy_tool_checked(self, replica: Replica, args: Sequence[str], echo: Say | None = None) -> CommandResult:
        result = self.deploy_tool(replica, args, echo)
        if result.exit_status != 0:
            lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
            message = lines[-1].removeprefix("deploy: ") if lines else f"deploy tool exited {result.exit_status}"
            raise DeployToolError(message, command=["deploy", *args], exit_status=result.exit_status)
        return result

    def exec(self, container: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
        """Run a command in one of the replica's containers; its output, or StagingError."""
        try:
            result = self.client.containers.get(container).exec_run(list(argv), environment=dict(env or {}))
        except docker.errors.APIError as exc:
            raise StagingError(f"could not run a command: {exc.explanation or exc}",
                               container=container, command=argv) from exc
        output = (result.output or b"").decode(errors="replace")
        if result.exit_code != 0:
            raise StagingError("command failed", container=container, command=argv,
                               exit_status=result.exit_code, log_tail=output.strip().splitlines()[-3:])
        return output

    def pause(self, container: str, paused: bool) -> None:
        """Freeze every process of one of the replica's containers (the engine's cgroup
        freezer, as SIGSTOP to each), or thaw them; raises StagingError when the engine refuses."""
        try:
            found = self.client.containers.get(container)
            found.pause() if paused else found.unpause()
        except docker.errors.APIError as exc:
            raise StagingError(f"could not {'pause' if paused else 'unpause'} the container: "
                               f"{exc.explanation or exc}", container=container) from exc

    def write_file(self, replica: Replica, path: str, text: str) -> None:
        """Replace a file in the web host atomically (write beside it, then rename)."""
        script = 'printf "%s" "$CONTENT" > "$TARGET.tmp" && mv "$TARGET.tmp" "$TARGET"'
        self.exec(replica.web, ["sh", "-c", script], env={"CONTENT": text, "TARGET": path})

    def remove_file(self, replica: Replica, path: str) -> None:
        self.exec(replica.web, ["rm", "-f", path])

    def read_file(self, replica: Replica, path: str) -> str:
        return self.exec(replica.web, ["sh", "-c", 'cat "$TARGET" 2>/dev/null || true'], env={"TARGET": path})

    def sql(self, replica: Replica, database: str, query: str) -> list[list[str]]:
        """Rows of a query run with psql inside the database container."""
        out = self.exec(replica.db, ["psql", "-U", DB_USER, "-d", database, "-AtX", "-F", "\t", "-c", query])
        return [line.split("\t") for line in out.splitlines() if line]

    def releases(self, replica: Replica) -> dict[str, Any]:
        result = self.deploy_tool_checked(replica, ["releases", "--json"])
        return dict(json.loads(result.stdout))

    def status(self, replica: Replica) -> dict[str, Any]:
        releases = self.releases(replica)
        current = releases.get("current")
        names = {r["release"]: r["name"] for r in releases.get("releases", [])}
        return {
            "run_id": replica.run_id,
            "scenario": replica.scenario,
            "target": replica.target,
            "url": replica.url,
            "current_release": current,
            "current_name": names.get(current) if current else None,
            "releases": releases.get("releases", []),
            "containers": [
                {
                    "name": c.name,
                    "role": c.labels.get(ROLE_LABEL),
                    "status": c.status,
                    "image": c.image.tags[0] if c.image and c.image.tags else None,
                    "ports": {
                        port: [f"{b['HostIp']}:{b['HostPort']}" for b in (binds or [])]
                        for port, binds in (c.attrs.get("NetworkSettings", {}).get("Ports") or {}).items()
                    },
                }
                for c in self.containers(replica.run_id)
            ],
        }

    def stale_runs(self) -> list[str]:
        """Runs of this machine's user whose gameday process died without tearing down
        (SIGKILL, power loss): any container, network or volume of theirs counts. Never a
        replica of `gameday up` (its process always ends first), another user's or another
        machine's."""
        return self.run_ids(lambda found: found.get(OWNER_LABEL) == "run" and made_here(found) and maker_gone(found))

    def sweep(self) -> list[str]:
        """Remove what dead gameday runs left behind; never a replica from `gameday up`.
        Run ids held in the state directory by a process that is gone, with nothing left on
        the engine, are released too."""
        swept = self.stale_runs()
        for run_id in swept:
            counts = self.remove(run_id)
            self.say(f"removed leftovers of {run_id}, whose gameday process is gone: "
                     f"{counts['containers']} containers, {counts['networks']} networks, {counts['volumes']} volumes")
        on_engine = set(self.run_ids())
        for run_id in state.held_runs():
            owner = state.owner_of(run_id)
            if run_id not in on_engine and owner is not None and owner.kind != "up" and owner.gone:
                state.release(run_id)
        return swept

    def exec_result(self, container: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> CommandResult:
        """Run a command in a container and wait; its exit status and output, success or not."""
        api = self.client.api
        try:
            exec_id = api.exec_create(container, list(argv), stdout=True, stderr=True,
                                      environment=dict(env or {}))["Id"]
            out, err = api.exec_start(exec_id, demux=True)
            status = api.exec_inspect(exec_id)["ExitCode"]
        except docker.errors.APIError as exc:
            raise StagingError(f"could not run a command: {exc.explanation or exc}",
                               container=container, command=argv) from exc
        return CommandResult(tuple(argv), int(status or 0), (out or b"").decode(errors="replace"),
                             (err or b"").decode(errors="replace"))

    def hygiene(self, replica: Replica) -> list[str]:  # noqa: C901 (one check after another)
        """What a fault could have left behind in the containers and the release layout:
        each finding is one line; none means clean."""
        findings: list[str] = []
        for container in self.containers(replica.run_id):
            container.reload()
            state = container.attrs.get("State", {})
            if container.status != "running" or state.get("Paused"):
                findings.append(f"container {container.name} is {container.status}"
                                + (" (paused)" if state.get("Paused") else ""))
                continue
            stat = self.exec(container.name, ["sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null; true"])
            for line in stat.splitlines():
                head, _, rest = line.rpartition(")")
                fields = rest.split()
                if fields and fields[0] in ("T", "t"):
                    pid, _, comm = head.partition(" (")
                    findings.append(f"process {pid} ({comm}) in {container.name} is stopped (SIGSTOP)")
        strays = self.exec(replica.web, ["sh", "-c", STRAY_PROCESSES])
        for line in strays.splitlines():
            pid, directory, command = (line.split(" ", 2) + ["", ""])[:3]
            findings.append(f"process {pid} ({command.strip()[:80]}) still runs from {directory}, "
                            "not the release `current` points to")
        leftovers = self.exec(replica.web, ["sh", "-c",
                                            "cd /srv/app; ls -d shared/deploy.lock current.tmp 2>/dev/null; "
                                            "for r in releases/*/; do [ -f \"$r/REVISION\" ] || echo \"$r\"; done; "
                                            "ls /run/app/gate-*.sock 2>/dev/null; true"])
        for path in leftovers.split():
            if path.endswith("deploy.lock"):
                findings.append("the deploy lock is still held")
            elif path.startswith("releases/"):
                findings.append(f"stray release directory {path.rstrip('/')} (no REVISION)")
            else:
                findings.append(f"leftover {path}")
        return findings

    # --- remove ---------------------------------------------------------------

    def _networks(self, run_id: str | None) -> list[Any]:
        wanted = f"{RUN_LABEL}={run_id}" if run_id else RUN_LABEL
        return list(self.client.networks.list(filters={"label": wanted}))

    def _volumes(self, run_id: str | None) -> list[Any]:
        wanted = f"{RUN_LABEL}={run_id}" if run_id else RUN_LABEL
        return list(self.client.volumes.list(filters={"label": wanted}))

    def remove(self, run_id: str) -> dict[str, int]:
        """Remove every container, network and volume labelled with `run_id` (none labelled
        with another user), the run's SSH key, and its hold on the id unless a rehearsal
        that is still going holds it (it lets go once its result is written); nothing else."""
        if not run_id:
            raise StagingError("refusing to remove resources without a run id")
        check_run_id(run_id, "run id")
        ssh.remove(run_id)
        counts = {"containers": 0, "networks": 0, "volumes": 0}
        for container in self.containers(run_id):
            if not not_another_users(container.labels):
                continue
            try:
                container.remove(force=True, v=True)
                counts["containers"] += 1
            except docker.errors.NotFound:
                pass
        for network in self._networks(run_id):
            if not not_another_users(network.attrs.get("Labels") or {}):
                continue
            try:
                network.remove()
                counts["networks"] += 1
            except docker.errors.NotFound:
                pass
        for volume in self._volumes(run_id):
            if not not_another_users(volume.attrs.get("Labels") or {}):
                continue
            try:
                volume.remove(force=True)
                counts["volumes"] += 1
            except docker.errors.NotFound:
                pass
        state.release_unless_rehearsing(run_id)
        return counts


class ReplicaEnvironment:
    """A replica as the rehearsal sees it: the environment seam over Docker."""

    def __init__(self, staging: Staging, replica: Replica) -> None:
        self.staging = staging
        self.replica = replica

    @property
    def run_id(self) -> str:
        return self.replica.run_id

    @property
    def url(self) -> str:
        return self.replica.url

    def exec(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> CommandResult:
        return self.staging.exec_result(self.replica.web, argv, env)

    def read_file(self, path: str) -> str:
        return self.staging.read_file(self.replica, path)

    def write_file(self, path: str, text: str) -> None:
        self.staging.write_file(self.replica, path, text)

    def remove_file(self, path: str) -> None:
        self.staging.remove_file(self.replica, path)

    def sql(self, database: str, query: str) -> list[list[str]]:
        return self.staging.sql(self.replica, database, query)

    def pause_database(self, paused: bool) -> None:
        self.staging.pause(self.replica.db, paused)

    @property
    def access(self) -> Access | None:
        return access(self.replica)

    def hygiene(self) -> list[str]:
        return self.staging.hygiene(self.replica)

    @property
    def hygiene_checks(self) -> tuple[str, ...]:
        return ("containers running, none paused", "no stopped (SIGSTOP) process", "no deploy lock held",
                "no stray release", "no process running from another release")


def access(replica: Replica) -> Access | None:
    """SSH access to a replica's web host, when it has a port and the run's key is here."""
    keys = ssh.files_of(replica.run_id)
    if replica.ssh_port is None or not keys.config.exists():
        return None
    return Access(
        ssh_host="127.0.0.1", ssh_port=replica.ssh_port, ssh_user=ssh.DEPLOY_USER, ssh_key=str(keys.private),
        known_hosts=str(keys.known_hosts), ssh_config=str(keys.config), deploy_to=DEPLOY_TO,
        repo_url=REPO_URL, url=replica.url,
    )


@dataclass(frozen=True)
class DockerStage:
    """Provisions a fresh replica per rehearsal from built images, and removes it after."""

    staging: Staging
    target: Target
    images: Images

    @contextmanager
    def provision(self, run_id: str, scenario: str, run_dir: Path) -> Iterator[ReplicaEnvironment]:
        """A replica for one rehearsal, nothing deployed yet, removed on exit whatever happened.

        It is labelled as owned by this process, so a later gameday sweeps it if this one dies.
        """
        extra_labels = {REPORTS_LABEL: str(run_dir.resolve()), **owner_labels("run")}
        try:
            replica = self.staging.create(self.target, self.images, run_id, scenario, extra_labels)
            yield ReplicaEnvironment(self.staging, replica)
        finally:
            self.staging.remove(run_id)

    def describe(self) -> dict[str, str]:
        return {"web": self.images.web, "db": self.images.db}


@contextmanager
def up(
    staging: Staging,
    target: Target,
    images: Images,
    run_id: str,
    scenario: str,
    release: str | None = None,
    extra_labels: Mapping[str, str] = {},
) -> Iterator[Replica]:
    """A replica with `release` deployed, removed on exit whatever happened."""
    try:
        replica = staging.create(target, images, run_id, scenario, extra_labels)
        staging.deploy_tool_checked(replica, ["deploy", release or target.first_release])
        yield replica
    finally:
        staging.remove(run_id)
