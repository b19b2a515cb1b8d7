import os
import socket
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from harness.environment.replica import RUN_LABEL, Staging, labels, new_run_id, published_port
from harness.errors import StagingError


def test_run_id_is_sortable_and_names_the_scenario():
    assert new_run_id("bad-migration", datetime(2026, 11, 28, 10, 15, tzinfo=UTC)) == "20261128T101500Z-bad-migration"
    assert new_run_id("Odd Name!", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "20260102T030405Z-odd-name"


def test_every_resource_carries_the_design_labels():
    found = labels("r1", "bad-migration", "shop", "web")
    assert found == {RUN_LABEL: "r1", "gameday.scenario": "bad-migration", "gameday.target": "shop",
                     "gameday.role": "web"}


def test_published_port_only_takes_loopback_bindings():
    def bound(ip: str, port: str) -> SimpleNamespace:
        return SimpleNamespace(attrs={"NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": ip, "HostPort": port}]}}})

    loopback, everywhere = bound("127.0.0.1", "49153"), bound("0.0.0.0", "1")
    assert published_port(loopback, "80/tcp") == 49153  # type: ignore[arg-type]
    assert published_port(everywhere, "80/tcp") is None  # type: ignore[arg-type]


def test_remove_refuses_an_empty_run_id():
    with pytest.raises(StagingError):
        Staging(client=SimpleNamespace()).remove("")  # type: ignore[arg-type]


class FakeResource:
    """A container, network or volume as docker-py lists it: labels (and attrs' Labels)."""

    def __init__(self, run_id: str, owner: str, pid: str, host: str, user: str | None = None) -> None:
        self.labels = {RUN_LABEL: run_id, "gameday.owner": owner, "gameday.pid": pid, "gameday.host": host,
                       "gameday.user": str(os.getuid()) if user is None else user}
        self.attrs = {"Labels": self.labels}


class FakeClient:
    def __init__(self, containers: list[FakeResource], networks: list[FakeResource] = (),
                 volumes: list[FakeResource] = ()) -> None:
        self.containers = SimpleNamespace(list=lambda **kw: containers)
        self.networks = SimpleNamespace(list=lambda **kw: list(networks))
        self.volumes = SimpleNamespace(list=lambda **kw: list(volumes))


RUN = "20261128T101500Z-"


def test_only_dead_runs_of_this_user_on_this_host_are_stale():
    host = socket.gethostname()
    dead = str(2**22 + 4321)
    client = FakeClient([
        FakeResource(RUN + "dead-run", "run", dead, host),
        FakeResource(RUN + "live-run", "run", str(os.getpid()), host),
        FakeResource(RUN + "user-replica", "up", dead, host),          # `gameday up` replicas stay
        FakeResource(RUN + "other-host", "run", dead, "elsewhere"),    # not ours to judge
        FakeResource(RUN + "other-user", "run", dead, host, user="4242"),
        FakeResource("../../etc", "run", dead, host),                  # not a run id: never a run
    ], networks=[FakeResource(RUN + "network-only", "run", dead, host)],
        volumes=[FakeResource(RUN + "volume-only", "run", dead, host)])
    assert Staging(client).stale_runs() == [RUN + "dead-run", RUN + "network-only", RUN + "volume-only"]  # type: ignore[arg-type]


def test_a_reused_pid_is_not_the_process_that_made_a_replica():
    mine = FakeResource(RUN + "reused-pid", "run", str(os.getpid()), socket.gethostname())
    mine.labels["gameday.pid_start"] = "1"  # this pid, but a process that started at another time
    assert Staging(FakeClient([mine])).stale_runs() == [RUN + "reused-pid"]  # type: ignore[arg-type]


class ExitedContainer:
    """A web container whose PID 1 gave up before it was ready (docker-py's Container shape)."""

    name = "gameday-x-web"
    status = "exited"
    attrs = {"State": {"ExitCode": 255}}

    def reload(self) -> None:
        pass

    def logs(self, tail: int) -> bytes:
        return (b"systemd 252 running in system mode\n"
                b"Failed to create /init.scope control group: Read-only file system\n")

    def exec_run(self, argv: list[str]) -> None:
        raise AssertionError("an exited container is not asked")


def test_an_engine_that_cannot_boot_systemd_is_said_in_one_line():
    from harness.environment.replica import WEB_HOSTS

    host = WEB_HOSTS["systemd"]
    with pytest.raises(StagingError) as err:
        staging = Staging(None, say=lambda _: None)  # type: ignore[arg-type]  # no engine is asked
        staging.wait_ready(ExitedContainer(), host.ready("nginx"), host.name, exited=host.exited)  # type: ignore[arg-type]
    message = str(err.value).splitlines()[0]
    assert message.startswith("systemd could not boot as PID 1 in an unprivileged container on this Docker engine")
    assert "(it needs cgroup v2, a tmpfs on /run and /sys/fs/cgroup read-only) (Failed to create /init.scope" in message
    assert host.ready("sshd") == ["systemctl", "is-active", "--quiet", "ssh"]


def test_down_all_takes_only_this_users_replicas_on_this_machine():
    from harness.environment.replica import made_here

    host = socket.gethostname()
    client = FakeClient([
        FakeResource(RUN + "mine", "up", "1", host),
        FakeResource(RUN + "theirs", "up", "1", host, user="4242"),
        FakeResource(RUN + "elsewhere", "up", "1", "another-host"),
    ])
    staging = Staging(client)  # type: ignore[arg-type]
    assert staging.run_ids(made_here) == [RUN + "mine"]
    assert staging.run_ids() == [RUN + "elsewhere", RUN + "mine", RUN + "theirs"]
