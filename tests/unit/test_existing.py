"""An existing environment (`[environment]` in a target): what it may be given, and that
bad input stops before anything starts, with no Docker engine asked."""

from pathlib import Path

import pytest

from harness import cli
from harness.config.target import load_target
from harness.environment.existing import ExistingEnvironment, ExistingStage, served_release
from harness.errors import InputError, StagingError
from harness.rehearsal.catalogue import find_scenario

EXAMPLES = Path(__file__).parents[2] / "examples"

EXISTING = """\
name = "staging"
first_release = "v1"
[environment]
url = "{url}"
releases = ["v1", "v2"]
[run]
health_path = "/health"
version_path = "/version"
[deploy]
deploy = "true deploy {{release}}"
rollback = "true rollback"
"""

SCENARIO = """\
target = "target.toml"
[fault]
release = "v2"
[load]
locustfile = "locustfile.py"
[detectors.error_rate]
"""


def write(tmp_path: Path, target: str, url: str = "http://127.0.0.1:8080") -> Path:
    (tmp_path / "target.toml").write_text(target.format(url=url))
    (tmp_path / "locustfile.py").write_text("from locust import HttpUser\n")
    scenario = tmp_path / "rehearsal.toml"
    scenario.write_text(SCENARIO)
    return scenario


def test_an_existing_environment_needs_no_build_and_no_database(tmp_path):
    scenario = find_scenario(str(write(tmp_path, EXISTING)))
    target = scenario.target
    assert target.environment is not None and target.environment.url == "http://127.0.0.1:8080"
    assert target.releases == ("v1", "v2") and target.database == "" and target.run.web == ""
    assert target.deploy.tool == "commands" and target.environment.dsn is None


@pytest.mark.parametrize(("change", "key", "problem"), [
    (lambda t: t.replace('releases = ["v1", "v2"]\n', ""), "environment.releases", "is required without [build]"),
    (lambda t: t.replace('version_path = "/version"\n', ""), "run.version_path", "or run.release_header"),
    (lambda t: t.replace('deploy = "true deploy {{release}}"\n', ""), "deploy.deploy", "is required"),
    (lambda t: t.split("[deploy]")[0], "deploy", "is required with [environment]"),
    (lambda t: t.replace("[run]\n", '[run]\nworker = "python3 worker.py"\n'), "run.worker", "needs a shell"),
    (lambda t: t + '[queue]\nlag_sql = "SELECT 1"\njobs_sql = "SELECT {{since}}"\n', "queue", "give environment.dsn"),
    (lambda t: t.replace('url = "{url}"', 'url = "staging.example"'), "environment.url", "must be an http"),
    (lambda t: t.replace("true deploy", "no-such-deploy-tool"), "deploy.deploy", "is not installed"),
])
def test_bad_existing_targets_name_the_file_and_key(tmp_path, change, key, problem):
    write(tmp_path, change(EXISTING))
    with pytest.raises(InputError) as err:
        load_target(tmp_path / "target.toml")
    assert str(err.value).startswith(f"{tmp_path / 'target.toml'}: {key}: "), err.value
    assert problem in str(err.value)


def one_line(err: str) -> str:
    assert err.count("\n") == 1, err
    return err


def test_a_remote_url_without_the_flag_is_exit_2_before_anything_starts(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")  # nothing may ask Docker
    scenario = write(tmp_path, EXISTING, url="https://staging.example.com")
    assert cli.main(["run", str(scenario), "--reports", str(tmp_path / "reports")]) == 2
    err = one_line(capsys.readouterr().err)
    assert ("environment.url: https://staging.example.com is not a loopback address, not on this machine; "
            "pass --allow-remote-host") in err
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())


def test_a_missing_deploy_command_is_exit_2_before_anything_starts(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    scenario = write(tmp_path, EXISTING.replace('deploy = "true deploy {{release}}"\n', ""))
    assert cli.main(["run", str(scenario), "--reports", str(tmp_path / "reports")]) == 2
    assert "target.toml: deploy.deploy: is required" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())


def test_the_platform_examples_load_where_their_tools_are_installed():
    render = find_scenario(str(EXAMPLES / "render" / "bad-release.toml"))
    assert render.target.environment is not None and render.target.releases == ("v41", "v42", "v43-bad")
    assert render.target.run.version_path == "/version"
    # flyctl is not installed here: the Fly example stops at its deploy command, as any
    # target whose tool is missing does.
    with pytest.raises(InputError, match="deploy.deploy: 'fly' is not installed"):
        find_scenario(str(EXAMPLES / "fly" / "bad-release.toml"))


def test_an_existing_environment_has_no_shell_and_sql_only_with_a_dsn():
    environment = ExistingEnvironment("run", "http://127.0.0.1:1")
    assert environment.exec(["readlink", "/srv/app/current"]).exit_status == 127
    assert environment.read_file("/etc/hostname") == "" and environment.access is None
    assert environment.hygiene() == []
    with pytest.raises(StagingError, match="no environment.dsn"):
        environment.sql("app", "SELECT 1")
    with pytest.raises(StagingError, match="cannot write"):
        environment.write_file("/srv/app/shared/fault.json", "{}")


def test_the_served_release_comes_from_the_version_path_or_the_release_header():
    import httpx

    def app(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/version":
            return httpx.Response(200, json={"release": "v2"})
        return httpx.Response(200, headers={"X-Release": "v3"}, json={"ok": True})

    transport = httpx.MockTransport(app)
    url = "http://127.0.0.1:1"
    assert served_release(url, "/version", None, "/health", transport) == "v2"
    assert served_release(url, None, "X-Release", "/health", transport) == "v3"
    down = httpx.MockTransport(lambda request: httpx.Response(503, text="down"))
    assert served_release(url, "/version", None, "/health", down) is None


def test_a_dsn_needs_psql_on_this_machine(tmp_path, monkeypatch):
    write(tmp_path, EXISTING.replace("[run]", 'dsn = "postgresql://app@127.0.0.1/app"\n[run]'))
    target = load_target(tmp_path / "target.toml")
    monkeypatch.setenv("PATH", str(tmp_path))  # no psql on it
    with pytest.raises(InputError, match="environment.dsn: needs psql"):
        ExistingStage(target).check()


@pytest.mark.parametrize(("extra", "key"), [
    ('[recovery]\nmode = "operator"\n', "recovery.mode"),
    ('[recovery]\nfallback = "restart"\ndb = "never"\n', "recovery.fallback"),
])
def test_what_needs_a_replica_is_refused_for_an_existing_environment(tmp_path, extra, key):
    scenario = write(tmp_path, EXISTING)
    scenario.write_text(scenario.read_text() + extra)
    with pytest.raises(InputError) as err:
        find_scenario(str(scenario))
    assert f"{scenario}: {key}: " in str(err.value) and "existing environment" in str(err.value)


def test_nightly_checks_an_existing_environment_before_anything_starts(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    scenario = write(tmp_path, EXISTING, url="https://staging.example.com")
    assert cli.main(["nightly", str(scenario), "--reports", str(tmp_path / "reports")]) == 2
    assert "not on this machine; pass --allow-remote-host" in one_line(capsys.readouterr().err)
    assert cli.main(["run", str(write(tmp_path, EXISTING)), "--operator", "--reports", str(tmp_path / "r")]) == 2
    assert "--operator: target staging is an existing environment" in one_line(capsys.readouterr().err)
