"""A team's own target: extending another, releases from git, build and fetch commands,
and the team's deploy commands, each checked when the file loads."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.config.target import find_target, load_target
from harness.environment import buildcache
from harness.errors import InputError

TINY = Path(__file__).resolve().parents[1] / "targets" / "tiny"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_target_extends_shop_and_changes_only_how_releases_go_live(tmp_path: Path) -> None:
    path = write(tmp_path / "target.toml", 'extends = "shop"\nname = "mine"\n[deploy]\n'
                 'deploy = "sh deploy.sh {release}"\nrollback = "sh deploy.sh rollback"\n')
    target = load_target(path)
    shop = find_target("shop")
    assert target.name == "mine" and target.releases == shop.releases
    assert target.run == shop.run and target.queue == shop.queue and target.locustfile == shop.locustfile
    assert target.deploy.tool == "commands" and target.deploy.cwd == tmp_path.resolve()
    assert target.deploy.rollback == "sh deploy.sh rollback" and target.deploy.db_rollback is None


@pytest.mark.parametrize(("example", "tool", "rollback"), [
    ("capistrano", "commands", "cap staging deploy:rollback"),
    ("ssh-script", "commands", "./deploy.sh rollback"),
    ("wagtail", "builtin", None),
])
def test_the_examples_say_how_their_releases_go_live(example: str, tool: str, rollback: str | None) -> None:
    target = find_target(str(EXAMPLES / example / "target.toml"))
    assert (target.deploy.tool, target.deploy.rollback) == (tool, rollback)
    assert target.deploy.cwd == (None if tool == "builtin" else (EXAMPLES / example).resolve())


def test_a_deploy_command_that_is_not_installed_is_named_with_its_key(tmp_path: Path) -> None:
    path = write(tmp_path / "target.toml", 'extends = "shop"\nname = "mine"\n[deploy]\n'
                 'deploy = "RAILS_ENV=staging no-such-deploy-tool deploy {release}"\nrollback = "true"\n')
    with pytest.raises(InputError) as caught:
        load_target(path)
    assert caught.value.key == "deploy.deploy"
    assert "'no-such-deploy-tool' is not installed" in str(caught.value)


def test_a_relative_deploy_script_must_be_executable(tmp_path: Path) -> None:
    write(tmp_path / "deploy.sh", "#!/bin/sh\n")
    path = write(tmp_path / "target.toml", 'extends = "shop"\nname = "mine"\n[deploy]\n'
                 'deploy = "./deploy.sh {release}"\nrollback = "./deploy.sh rollback"\n')
    with pytest.raises(InputError, match="deploy.deploy: './deploy.sh' is not an executable file"):
        load_target(path)
    (tmp_path / "deploy.sh").chmod(0o755)
    assert load_target(path).deploy.deploy == "./deploy.sh {release}"


@pytest.mark.parametrize(("deploy", "key", "problem"), [
    ('tool = "builtin"\ndeploy = "cap deploy"', "deploy.deploy", "is for tool"),
    ('deploy = "true"', "deploy.rollback", "is required"),
    ('tool = "kubectl"', "deploy.tool", "must be one of builtin, commands"),
    ('deploy = "true"\nrollback = "true"\nretries = 3', "deploy.retries", "is not a known key"),
])
def test_a_bad_deploy_table_names_the_key(tmp_path: Path, deploy: str, key: str, problem: str) -> None:
    path = write(tmp_path / "target.toml", f'extends = "shop"\nname = "mine"\n[deploy]\n{deploy}\n')
    with pytest.raises(InputError) as caught:
        load_target(path)
    assert caught.value.key == key and problem in caught.value.problem


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                   capture_output=True)


def tiny_repository(tmp_path: Path) -> Path:
    """The tiny app as a team keeps it: one repository, a tag per release."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "tiny.py").write_text((TINY / "app" / "tiny.py").read_text())
    for release in ("v1", "v2"):
        (repo / "greeting.txt").write_text((TINY / "releases" / release / "greeting.txt").read_text())
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", release)
        git(repo, "tag", release)
    return repo


def git_target(tmp_path: Path, refs: str) -> Path:
    text = (TINY / "target.toml").read_text().replace('common = "app"\nreleases = "releases"\n',
                                                       f'git = "repo"\nrefs = {refs}\n')
    (tmp_path / "locustfile.py").write_text((TINY / "locustfile.py").read_text())
    return write(tmp_path / "target.toml", text)


def test_releases_can_be_tags_of_a_git_repository_in_the_order_listed(tmp_path: Path) -> None:
    tiny_repository(tmp_path)
    target = load_target(git_target(tmp_path, '["v2", "v1"]'))
    assert target.releases == ("v2", "v1")
    assert target.source.files("v1")["greeting.txt"] == (TINY / "releases" / "v1" / "greeting.txt").read_bytes()
    assert set(target.source.files("v2")) == {"tiny.py", "greeting.txt"}


def test_a_git_ref_that_does_not_exist_is_named(tmp_path: Path) -> None:
    tiny_repository(tmp_path)
    with pytest.raises(InputError) as caught:
        load_target(git_target(tmp_path, '["v1", "v9"]'))
    assert caught.value.key == "build.refs" and "'v9' is not a tag, branch or commit" in caught.value.problem


def test_git_and_a_directory_source_cannot_both_be_set(tmp_path: Path) -> None:
    tiny_repository(tmp_path)
    path = git_target(tmp_path, '["v1"]')
    path.write_text(path.read_text().replace("[build]\n", '[build]\ncommon = "app"\n'))
    with pytest.raises(InputError, match="two sources"):
        load_target(path)


def test_fetch_runs_once_per_release_and_names_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAMEDAY_CACHE_DIR", str(tmp_path / "cache"))
    text = (TINY / "target.toml").read_text().replace(
        "[build]\n", '[build]\nfetch = ["cat greeting.txt >> {cache}/fetched"]\n')
    for name in ("app", "releases", "locustfile.py"):
        (tmp_path / name).symlink_to(TINY / name)
    target = load_target(write(tmp_path / "target.toml", text))
    cache = buildcache.prefetch(target, lambda message: None)
    assert cache is not None
    fetched = (cache / "fetched").read_text()
    assert fetched.count("\n") == 2
    buildcache.prefetch(target, lambda message: None)
    assert (cache / "fetched").read_text() == fetched  # cached: nothing ran again

    failing = load_target(write(tmp_path / "target.toml", text.replace(
        "cat greeting.txt", "echo fetching; echo 'no route to index' >&2; exit 4; true")))
    with pytest.raises(InputError) as caught:
        buildcache.prefetch(failing, lambda message: None)
    assert caught.value.key == "build.fetch"
    assert "release v1" in caught.value.problem and "exited 4" in caught.value.problem
    assert "no route to index" in caught.value.problem


def test_extends_is_found_beside_the_file_wherever_gameday_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    base = write(tmp_path / "sib" / "target.toml", (TINY / "target.toml").read_text().replace(
        'common = "app"\nreleases = "releases"', f'common = "{TINY / "app"}"\nreleases = "{TINY / "releases"}"')
        .replace('locustfile = "locustfile.py"', f'locustfile = "{TINY / "locustfile.py"}"'))
    child = write(tmp_path / "child" / "target.toml", 'extends = "../sib"\nname = "child"\n')
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "sib").mkdir(parents=True)  # a same-named directory where gameday runs must not be taken
    monkeypatch.chdir(elsewhere)
    target = load_target(child)
    assert target.name == "child" and target.releases == load_target(base).releases


def test_an_extends_loop_and_a_missing_base_are_named(tmp_path: Path) -> None:
    write(tmp_path / "a.toml", 'extends = "b.toml"\nname = "a"\n')
    write(tmp_path / "b.toml", 'extends = "a.toml"\nname = "b"\n')
    with pytest.raises(InputError, match="a loop"):
        load_target(tmp_path / "a.toml")
    write(tmp_path / "c.toml", 'extends = "nowhere/target.toml"\nname = "c"\n')
    with pytest.raises(InputError) as caught:
        load_target(tmp_path / "c.toml")
    assert caught.value.key == "extends" and "nowhere/target.toml" in caught.value.problem


def test_a_file_that_extends_shop_can_take_its_releases_from_git_instead(tmp_path: Path) -> None:
    tiny_repository(tmp_path)
    path = write(tmp_path / "target.toml", 'extends = "shop"\nname = "mine"\nfirst_release = "v1"\n'
                 '[build]\ngit = "repo"\nrefs = ["v1", "v2"]\n')
    target = load_target(path)
    assert target.releases == ("v1", "v2") and target.run == find_target("shop").run


def test_a_home_relative_repository_path_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    tiny_repository(tmp_path)
    text = (TINY / "target.toml").read_text().replace('common = "app"\nreleases = "releases"\n',
                                                       'git = "~/repo"\nrefs = ["v1"]\n')
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "locustfile.py").write_text("")
    assert load_target(write(tmp_path / "t" / "target.toml", text)).releases == ("v1",)


def test_a_repository_path_must_be_the_top_of_a_repository(tmp_path: Path) -> None:
    repo = tiny_repository(tmp_path)
    (repo / "sub").mkdir()
    path = git_target(tmp_path, '["v1"]')
    path.write_text(path.read_text().replace('git = "repo"', 'git = "repo/sub"'))
    with pytest.raises(InputError, match="is inside the repository"):
        load_target(path)
    path.write_text(path.read_text().replace('git = "repo/sub"', 'git = "repo/tiny.py"'))
    with pytest.raises(InputError, match="is not a git repository"):
        load_target(path)


def test_a_ref_listed_twice_is_named(tmp_path: Path) -> None:
    tiny_repository(tmp_path)
    with pytest.raises(InputError, match="'v1' is listed twice"):
        load_target(git_target(tmp_path, '["v1", "v2", "v1"]'))


@pytest.mark.parametrize("line", ["cd deploy && ./run.sh {release}", "set -e; true", ". ./env && true",
                                  '"$HOME/bin/deploy" {release}', "(cd sub && make)", "A=1 B=2 true"])
def test_shell_lines_that_start_with_a_builtin_or_a_variable_are_left_to_the_shell(line: str, tmp_path: Path
                                                                                   ) -> None:
    from harness.config.target import missing_program

    assert missing_program(line, tmp_path) is None


def test_a_team_deploy_with_build_commands_is_told_to_build_in_its_own_commands(tmp_path: Path) -> None:
    path = write(tmp_path / "target.toml", 'extends = "shop"\nname = "mine"\n[build]\ncommands = ["make"]\n'
                 '[deploy]\ndeploy = "true"\nrollback = "true"\n')
    with pytest.raises(InputError) as caught:
        load_target(path)
    assert caught.value.key == "build.commands" and "build in them" in caught.value.problem


def test_a_replica_keeps_its_deploy_commands_as_json_and_reads_them_back() -> None:
    from harness.config.target import DeployCommands

    commands = find_target(str(EXAMPLES / "capistrano" / "target.toml")).deploy
    assert DeployCommands.from_json(commands.to_json()) == commands
    assert DeployCommands.from_json(DeployCommands().to_json()) == DeployCommands()
