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


class FakeContainer:
    def __init__(self, run_id: str, owner: str, pid: str, host: str) -> None:
        self.labels = {RUN_LABEL: run_id, "gameday.owner": owner, "gameday.pid": pid, "gameday.host": host}


class FakeClient:
    def __init__(self, containers: list[FakeContainer]) -> None:
        self.containers = SimpleNamespace(list=lambda **kw: containers)


def test_only_dead_runs_of_this_host_are_stale():
    import os
    import socket

    host = socket.gethostname()
    dead = str(2**22 + 4321)
    client = FakeClient([
        FakeContainer("dead-run", "run", dead, host),
        FakeContainer("live-run", "run", str(os.getpid()), host),
        FakeContainer("user-replica", "up", dead, host),        # `gameday up` replicas stay
        FakeContainer("other-host", "run", dead, "elsewhere"),  # not ours to judge
    ])
    assert Staging(client).stale_runs() == ["dead-run"]  # type: ignore[arg-type]
