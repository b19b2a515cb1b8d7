from harness import cli


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
