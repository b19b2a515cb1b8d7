"""The team's deploy commands as a deployer, the commands gameday runs on this machine,
and the contracts a target is checked against once its first release is live."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from harness.config.target import DeployCommands, find_target
from harness.deploy import Release, Releases
from harness.deploy.commands import CommandsDeployer, parse_listing
from harness.environment import Access
from harness.environment.local import LocalCommand
from harness.errors import StagingError
from harness.rehearsal import contracts
from harness.reporting.report import command_runs
from harness.results.deploylog import DeployStep
from harness.results.timeline import Event
from tests.unit.fakes import FakeClock, FakeEnvironment, FakeProcesses, Host

ACCESS = Access(ssh_host="127.0.0.1", ssh_port=2222, ssh_user="deploy", ssh_key="/k", known_hosts="/kh",
                ssh_config="/c", deploy_to="/srv/app", repo_url="/srv/git/releases.git", url="http://127.0.0.1:1")


def test_releases_are_read_from_the_host_and_named_by_their_published_tag() -> None:
    listing = ("release 20261129102809 aaaa1111 -\n"
               "release 20261129102825 bbbb2222 -\n"
               "release 20261129T103000Z v1 bad\n"
               "tag aaaa1111 refs/tags/v1\ntag bbbb2222 refs/tags/v2\n"
               "current /srv/app/releases/20261129102825\n")
    releases = parse_listing(listing)
    assert releases.current == "20261129102825"
    assert [(r.release_dir, r.name, r.current, r.bad) for r in releases.releases] == [
        ("20261129102809", "v1", False, False),
        ("20261129102825", "v2", True, False),
        ("20261129T103000Z", "v1", False, True),
    ]
    assert parse_listing("current \n").current is None


def deployer(tmp_path: Path, **commands: str) -> CommandsDeployer:
    environment = FakeEnvironment(Host())
    environment.access = ACCESS
    spec = DeployCommands("commands", commands.get("deploy", "true"), commands.get("rollback", "true"),
                          commands.get("db_rollback"), tmp_path, 30.0)
    return CommandsDeployer(environment, spec)


def test_the_teams_commands_get_the_release_and_the_replicas_ssh_details(tmp_path: Path) -> None:
    team = deployer(tmp_path, deploy='echo "$GAMEDAY_SSH_PORT $GAMEDAY_REPO_URL {release} $PWD"',
                    rollback="echo rolled back; echo oops >&2; exit 3")
    running = team.start_deploy("v2", gate=True)
    while (result := running.poll()) is None:
        time.sleep(0.01)
    assert result.ok and result.stdout.split() == ["2222", "/srv/git/releases.git", "v2", str(tmp_path)]
    rollback = team.rollback()
    assert rollback.exit_status == 3 and rollback.tail(5) == ["oops"]
    assert team.command_line("rollback") == "echo rolled back; echo oops >&2; exit 3"


def test_without_a_db_rollback_command_the_schema_step_says_so(tmp_path: Path) -> None:
    team = deployer(tmp_path)
    result = team.db_rollback()
    assert not result.ok and "no deploy.db_rollback" in result.last_line()
    assert deployer(tmp_path, db_rollback="true").rollback(db=True).ok


def test_a_running_deploy_is_interrupted_as_ctrl_c_would(tmp_path: Path) -> None:
    running = LocalCommand("trap 'echo interrupted >&2; exit 130' INT; sleep 30 & wait", tmp_path, {}, 60)
    time.sleep(0.3)
    said = running.stop()
    assert "sent SIGINT" in said and "exited 130" in said
    result = running.poll()
    assert result is not None and result.exit_status == 130 and result.tail(1) == ["interrupted"]


def test_a_command_over_its_time_limit_is_interrupted(tmp_path: Path) -> None:
    result = LocalCommand("sleep 30", tmp_path, {}, 0.3).wait()
    assert result.exit_status != 0 and "interrupted after 0.3s" in result.stderr


class Live:
    """A deployer that only answers what is live, and names it (or not, like a release
    directory without a REVISION file)."""

    def __init__(self, current: str | None, name: str = "v1") -> None:
        self._current = current
        self._name = name

    def current(self) -> str | None:
        return self._current

    def releases(self) -> Releases:
        return Releases(self._current, (Release(self._current or "", self._name, True),))


def app(version: dict[str, str] | None, header: str | None, health: int = 200) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"X-Release": header} if header else {}
        if request.url.path == "/version" and version is not None:
            return httpx.Response(200, text=json.dumps(version), headers=headers)
        if request.url.path == "/health":
            return httpx.Response(health, text="ok" if health == 200 else "db down", headers=headers)
        return httpx.Response(404, headers=headers)
    return httpx.MockTransport(handler)


class BrokenSql(FakeEnvironment):
    def sql(self, database: str, query: str) -> list[list[str]]:
        raise StagingError("command failed", log_tail=['ERROR:  relation "jobs" does not exist'])


def check(transport: httpx.MockTransport, current: str | None = "20261129T1", states: dict[str, str] | None = None,
          environment: FakeEnvironment | None = None, name: str = "v1") -> None:
    processes = FakeProcesses()
    if states is not None:
        processes.states = lambda: states  # type: ignore[method-assign]
    contracts.check(find_target("shop"), environment or FakeEnvironment(Host()), Live(current, name),  # type: ignore[arg-type]
                    processes, "v1", clock=FakeClock(), transport=transport, settle_s=0.0)


def test_shops_contracts_hold_when_it_names_its_release() -> None:
    check(app({"release": "20261129T1"}, "20261129T1"))
    check(app({"release": "v1"}, "v1"))  # the release's name will do too


@pytest.mark.parametrize(("transport", "key", "words"), [
    (app({"release": "something-else"}, "20261129T1"), "run.version_path", "did not name release v1"),
    (app(None, "20261129T1"), "run.version_path", "answered 404"),
    (app({"release": "20261129T1"}, None), "run.release_header", "no such header"),
])
def test_a_broken_contract_is_one_line_naming_the_key(transport: httpx.MockTransport, key: str, words: str) -> None:
    with pytest.raises(contracts.ContractBroken) as caught:
        check(transport)
    assert caught.value.key == key and words in str(caught.value)
    assert str(caught.value).startswith(str(find_target("shop").path))


def test_an_unhealthy_release_and_queries_that_do_not_run_break_contracts() -> None:
    with pytest.raises(contracts.ContractBroken, match=r"run.health_path: GET /health answered 503 .*'db down'"):
        check(app({"release": "20261129T1"}, "20261129T1", health=503))
    with pytest.raises(contracts.ContractBroken, match=r'queue.lag_sql: does not run against shop: .*"jobs" does not'):
        check(app({"release": "20261129T1"}, "20261129T1"), environment=BrokenSql(Host()))


def test_a_stopped_worker_and_nothing_live_break_contracts() -> None:
    good = app({"release": "20261129T1"}, "20261129T1")
    with pytest.raises(contracts.ContractBroken, match="run.worker: the worker is FATAL"):
        check(good, states={"web": "RUNNING", "worker": "FATAL"})
    with pytest.raises(contracts.ContractBroken, match="nothing is live"):
        check(good, current=None)
    with pytest.raises(contracts.ContractBroken, match="names no release: write the release's name"):
        check(good, name="?")


def test_a_failed_first_deploy_names_the_key_behind_it() -> None:
    shop = find_target("shop")
    steps = [DeployStep(1.0, "deploy", "release", "v1", "r1", True, 0.1, ""),
             DeployStep(2.0, "deploy", "build", "v1", "r1", False, 0.1, "pip exited 1")]
    assert contracts.key_for_failed_deploy(shop, steps) == "build.commands"
    assert contracts.key_for_failed_deploy(shop, steps[:1]) is None
    team = find_target(str(Path(__file__).resolve().parents[2] / "examples" / "ssh-script" / "target.toml"))
    assert contracts.key_for_failed_deploy(team, []) == "deploy.deploy"


def test_the_report_lists_each_command_with_its_exit_and_output() -> None:
    timeline = [
        {"ts": 100.0, "event": Event.FAULT_INJECTED, "command": "cap staging deploy RELEASE=v2"},
        {"ts": 103.0, "event": Event.DEPLOY_FINISHED, "exit_status": 0, "output": ["done"]},
        {"ts": 104.0, "event": Event.ROLLBACK_STARTED, "command": "cap staging deploy:rollback"},
        {"ts": 104.5, "event": Event.ROLLBACK_FINISHED, "exit_status": 255,
         "output": ["ssh: connect to host 127.0.0.1 port 1: Connection refused"]},
    ]
    runs = command_runs(timeline, 100.0)
    assert [(r.command, r.started_s, r.took_s, r.exit_status) for r in runs] == [
        ("cap staging deploy RELEASE=v2", 0.0, 3.0, 0), ("cap staging deploy:rollback", 4.0, 0.5, 255)]
    assert "Connection refused" in runs[1].output[0]


def test_an_events_epoch_time_is_shown_as_seconds_after_the_fault() -> None:
    from harness.reporting.report import event_value

    assert event_value("recovered_ts", 1795954196.9548, 1795954190.0) == "+6.95 s"
    assert event_value("detail", "recovered", 1795954190.0) == "recovered"
