import pytest

from harness import cli
from harness.rehearsal.catalogue import scenario_files


def one_line(err: str) -> str:
    assert err.count("\n") == 1, err
    return err


def test_unknown_target_is_one_line_and_exit_2(capsys):
    assert cli.main(["up", "--target", "nope"]) == 2
    assert "no target 'nope'" in one_line(capsys.readouterr().err)


def test_unknown_first_release_is_exit_2(capsys):
    assert cli.main(["up", "--release", "v99"]) == 2
    assert "--release: 'v99' is not a release of shop" in one_line(capsys.readouterr().err)


def test_unreachable_docker_daemon_is_one_line_and_exit_2(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such-docker.sock")
    assert cli.main(["status"]) == 2
    assert "cannot reach the Docker daemon" in one_line(capsys.readouterr().err)


def test_a_bad_scenario_file_is_one_line_naming_file_and_key(capsys, tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('[fault]\nrelease = "v2"\n[detectors.error_rate]\nwindow_s = -3\n')
    assert cli.main(["run", str(path)]) == 2
    err = one_line(capsys.readouterr().err)
    assert f"{path}: detectors.error_rate.window_s: must be greater than 0" in err


def test_an_unknown_scenario_is_exit_2(capsys):
    assert cli.main(["run", "no-such-scenario"]) == 2
    assert "no such scenario" in one_line(capsys.readouterr().err)


def test_an_unwritable_reports_directory_is_exit_2_before_anything_starts(capsys, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    # Fails before Docker is even asked: no daemon here.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    assert cli.main(["run", "clean-deploy", "--reports", str(blocker / "reports")]) == 2
    assert "the reports directory is not writable" in one_line(capsys.readouterr().err)


def test_list_groups_every_built_in_scenario_with_its_description(capsys):
    assert cli.main(["list"]) == 0
    groups: dict[str, list[str]] = {}
    for line in capsys.readouterr().out.splitlines():
        if line.endswith(":"):
            current = groups.setdefault(line[:-1], [])
        elif line.strip():
            name, description = line.split(maxsplit=1)
            assert line.startswith("  ") and description.strip(), line
            current.append(name)
    assert groups == {
        "basics": ["clean-deploy", "detection-ladder", "failing-health-check-no-gate", "failing-health-check",
                   "flag-kill-switch", "flag-vs-rollback"],
        "migrations": ["bad-migration", "cached-plan", "expand-contract-wrong-order", "expand-contract",
                       "incomplete-down", "interrupted-index", "irreversible-migration",
                       "lock-queue-stall-lock-timeout", "lock-queue-stall", "migration-then-failing-gate",
                       "renamed-column", "required-column"],
        "processes": ["crash-loop", "database-paused", "drain-cutoff", "hung-worker", "mixed-queue-versions",
                      "orphaned-master", "realpath-trap", "start-limit", "unbootable-release", "worker-killed-mid-job",
                      "wrapper-worker"],
        "deploy tools": ["pruned-rollback", "redeploy-old-version", "stale-deploy-lock"],
    }


def test_a_deploy_command_that_is_not_installed_stops_before_anything_starts(capsys, tmp_path, monkeypatch):
    (tmp_path / "target.toml").write_text('extends = "shop"\nname = "mine"\n[deploy]\n'
                                          'deploy = "capistrano-not-here deploy {release}"\nrollback = "true"\n')
    scenario = tmp_path / "clean.toml"
    scenario.write_text('target = "target.toml"\n[fault]\nrelease = "v2"\n[detectors.error_rate]\n')
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")  # never asked
    assert cli.main(["run", str(scenario), "--reports", str(tmp_path / "reports")]) == 2
    err = one_line(capsys.readouterr().err)
    assert "target.toml: deploy.deploy: 'capistrano-not-here' is not installed" in err
    assert not (tmp_path / "reports").exists()


def test_a_missing_git_ref_stops_before_anything_starts(capsys, tmp_path):
    import subprocess

    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (tmp_path / "target.toml").write_text(
        'name = "mine"\ndatabase = "mine"\nfirst_release = "v1"\n[build]\ngit = "repo"\nrefs = ["v1"]\n'
        '[run]\nweb = "app {release} {socket}"\nhealth_path = "/"\nmigrate = "true"\n')
    assert cli.main(["up", "--target", str(tmp_path / "target.toml")]) == 2
    assert "build.refs: 'v1' is not a tag, branch or commit" in one_line(capsys.readouterr().err)


def test_load_workers_and_the_process_manager_on_the_command_line_replace_the_scenarios(capsys):
    from argparse import Namespace

    from harness.rehearsal.catalogue import find_scenario

    scenario = find_scenario("bad-migration")
    assert cli.overridden(scenario, Namespace(load_workers=None, process_manager=None)) is scenario
    assert scenario.target.run.process_manager == "supervisord" and not scenario.load.distributed
    changed = cli.overridden(scenario, Namespace(load_workers=3, process_manager="systemd"))
    assert changed.load.workers == 3 and changed.load.distributed
    assert changed.target.run.process_manager == "systemd" and changed.target.name == "shop"
    assert cli.overridden(scenario, Namespace(load_workers=0, process_manager=None)).load.distributed is False
    with pytest.raises(SystemExit) as exited:
        cli.main(["run", "bad-migration", "--load-workers", "-1"])
    assert exited.value.code == 2
    assert "--load-workers: must be a whole number from 0 to 64, got '-1'" in capsys.readouterr().err


def test_list_marks_a_scenario_whose_deploy_tool_is_missing_and_still_lists_every_one(capsys, tmp_path,
                                                                                   monkeypatch):
    import shutil

    bin_dir = tmp_path / "bin"  # a PATH with ssh-keygen and git, and no Capistrano
    bin_dir.mkdir()
    for program in ("ssh-keygen", "git"):
        found = shutil.which(program)
        assert found is not None, f"{program} is needed by the examples"
        (bin_dir / program).symlink_to(found)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.split()[:1] == ["pruned-rollback"])
    assert "cannot run here: 'cap' is not installed (not found on PATH); apt-get install capistrano" in lines[at + 1]
    assert sum(1 for line in lines if "cannot run here" in line) == 1
    assert sum(1 for line in lines if line.startswith("  ") and "cannot run here" not in line) == len(scenario_files())


def test_running_a_scenario_whose_tool_is_missing_is_one_line_with_the_install_command(capsys, tmp_path,
                                                                                      monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    assert cli.main(["run", "pruned-rollback", "--reports", str(tmp_path / "reports")]) == 2
    err = one_line(capsys.readouterr().err)
    assert "keep-one.toml: deploy.tool: needs ssh-keygen" in err and "apt-get install openssh-client" in err
    assert not (tmp_path / "reports").exists()
