import shutil
from pathlib import Path

import pytest

from harness.errors import HarnessError, InputError
from harness.rehearsal.catalogue import find_scenario, load_scenario, scenario_files

BUILT_IN = ["bad-migration", "clean-deploy", "detection-ladder", "drain-cutoff", "expand-contract",
            "expand-contract-wrong-order", "failing-health-check", "flag-kill-switch", "flag-vs-rollback",
            "failing-health-check-no-gate", "hung-worker", "migration-then-failing-gate", "unbootable-release",
            "required-column", "incomplete-down", "renamed-column", "lock-queue-stall",
            "lock-queue-stall-lock-timeout", "redeploy-old-version", "wrapper-worker", "irreversible-migration",
            "mixed-queue-versions", "realpath-trap", "crash-loop", "stale-deploy-lock", "interrupted-index",
            "pruned-rollback", "cached-plan", "start-limit", "worker-killed-mid-job", "database-paused",
            "orphaned-master"]

MINIMAL = """\
[fault]
release = "v2"
[detectors.error_rate]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return path


def test_every_built_in_scenario_loads():
    assert sorted(p.stem for p in scenario_files()) == sorted(BUILT_IN)
    for name in BUILT_IN:
        scenario = find_scenario(name)
        assert scenario.name == name
        # Every built-in scenario rehearses the reference app; drain-cutoff under threaded workers,
        # realpath-trap with its server started in the resolved release path, pruned-rollback
        # deployed by Capistrano (examples/capistrano), start-limit on a systemd host.
        variants = {"drain-cutoff": "shop-gthread", "realpath-trap": "shop-realpath",
                    "pruned-rollback": "shop-capistrano-keep-one", "start-limit": "shop-systemd"}
        assert scenario.target.name == variants.get(name, "shop")
        assert scenario.objectives.lost_jobs == 0
        assert scenario.notes == ()


def test_defaults_fill_a_minimal_scenario(tmp_path):
    scenario = load_scenario(write(tmp_path, MINIMAL))
    assert scenario.name == "mine"
    assert scenario.start_release == "v1"
    assert scenario.fault.kind == "deploy" and scenario.fault.gate is True
    assert scenario.load.users == 20 and scenario.load.locustfile.name == "locustfile.py"
    assert scenario.detectors.error_rate is not None and scenario.detectors.error_rate.window_s == 1.0
    assert scenario.recovery.mode == "auto" and scenario.recovery.db == "if-needed"
    assert scenario.phases.stable_s == 5.0


def test_a_fast_health_poller_still_gives_each_probe_two_seconds(tmp_path):
    # A probe's timeout is not its interval: polled every 0.5 s, one answer that a busy
    # machine slowed to 0.6 s is still green.
    scenario = load_scenario(write(tmp_path, MINIMAL + "[detectors.health]\ninterval_s = 0.5\n"))
    health = scenario.detectors.health
    assert health is not None and (health.interval_s, health.timeout_s, health.failures) == (0.5, 2.0, 1)
    scenario = load_scenario(write(tmp_path, MINIMAL + "[detectors.health]\ninterval_s = 0.5\ntimeout_s = 1\n"))
    assert scenario.detectors.health is not None and scenario.detectors.health.timeout_s == 1.0


def test_bad_migration_asks_for_the_db_step_if_needed():
    scenario = find_scenario("bad-migration")
    assert scenario.fault.release == "bad-migration"
    assert scenario.recovery.db == "if-needed"


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        (MINIMAL + "[phases]\nbaseline_s = -1\n", "phases.baseline_s", "must be greater than 0"),
        (MINIMAL + "[phases]\nstable_s = 0\n", "phases.stable_s", "must be greater than 0"),
        (MINIMAL + "[load]\nusers = 100000\n", "load.users", "must be at most 500"),
        (MINIMAL + "[load]\nusers = 2.5\n", "load.users", "must be a whole number"),
        (MINIMAL + "[load]\nusers = \"many\"\n", "load.users", "must be a number"),
        (MINIMAL + "[load]\nworkers = -1\n", "load.workers", "must be at least 0"),
        (MINIMAL + "[load]\nworkers = 65\n", "load.workers", "must be at most 64"),
        (MINIMAL + "[load]\nremote_workers = 2\n", "load.master_port", "is required with remote_workers"),
        (MINIMAL + "[load]\nworkers = 2\nmaster_port = 5557\n", "load.master_port", "applies only with"),
        (MINIMAL + "[load]\nmaster_bind_host = \"0.0.0.0\"\n", "load.master_bind_host", "applies only with"),
        (MINIMAL + "colour = 1\n", "detectors.error_rate.colour", "is not a known key"),
        ("colour = 1\n" + MINIMAL, "colour", "is not a known key"),
        (MINIMAL.replace('release = "v2"', 'release = "v9"'), "fault.release", "is not a release of shop"),
        (MINIMAL.replace('release = "v2"', 'kind = "meteor"'), "fault.kind", "must be one of deploy, errors"),
        (MINIMAL.replace('release = "v2"\n', ""), "fault.release", "is required"),
        (MINIMAL.replace("[detectors.error_rate]\n", ""), "detectors", "is required"),
        ("[detectors.error_rate]\n", "fault", "is required"),
        (MINIMAL + "[recovery]\ntrigger = \"after\"\n", "recovery.after_s", "is required"),
        (MINIMAL + "[fault.extra]\n", "fault.extra", "is not a known key"),
        ("target = \"nope\"\n" + MINIMAL, "target", "no target 'nope'"),
        ("start_release = \"v7\"\n" + MINIMAL, "start_release", "is not a release of shop"),
        (MINIMAL + "[load]\nlocustfile = \"missing.py\"\n", "load.locustfile", "is not a file"),
        (MINIMAL + "[detectors.health]\ninterval_s = true\n", "detectors.health.interval_s", "must be a number"),
        ("group = \"misc\"\n" + MINIMAL, "group", "must be one of basics, migrations, processes, deploy tools"),
        (MINIMAL + "[recovery]\nmethod = \"redeploy\"\n", "recovery.method", 'set db = "never"'),
        (MINIMAL + "[recovery]\nmethod = \"revert\"\n", "recovery.method", "must be one of rollback, redeploy"),
        (MINIMAL.replace('release = "v2"', 'kind = "errors"\nduration_s = 2')
         + "[recovery]\nmethod = \"redeploy\"\ndb = \"never\"\n", "recovery.method", "deploys nothing"),
        (MINIMAL.replace('release = "v2"', 'kind = "errors"\nduration_s = 2') + "[recovery]\nretry = true\n",
         "recovery.retry", "reruns the fault's deploy"),
        (MINIMAL + "[fault.killed_after]\n", "fault.killed_after", "must be one of"),
        (MINIMAL.replace('release = "v2"', 'release = "v2"\nkilled_after = "build"'), "fault.killed_after",
         "has no build.commands"),
        (MINIMAL + "[recovery]\nfallback = \"pray\"\n", "recovery.fallback", "must be one of redeploy"),
        (MINIMAL + "[recovery]\nfallback = \"redeploy\"\nmode = \"operator\"\n", "recovery.fallback",
         'needs fault.kind = "deploy"'),
        (MINIMAL.replace("[detectors", "[fault.blocker]\nsql = \"SELECT 1; SELECT 2\"\n[detectors"),
         "fault.blocker.sql", "must be one SQL statement"),
        (MINIMAL.replace("[detectors", "[fault.blocker]\nsql = \"SELECT 1\"\nhold_s = 0\n[detectors"),
         "fault.blocker.hold_s", "must be greater than 0"),
    ],
)
def test_bad_scenarios_name_the_file_and_key(tmp_path, text, key, problem):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_scenario(path)
    assert str(err.value).startswith(f"{path}: {key}: "), str(err.value)
    assert problem in str(err.value)


def test_malformed_toml_names_the_file(tmp_path):
    path = write(tmp_path, "[fault\n")
    with pytest.raises(InputError, match="is not valid TOML"):
        load_scenario(path)


def test_unknown_scenario_lists_the_built_in_ones():
    with pytest.raises(InputError,
                       match="no such scenario; built-in scenarios: bad-migration, cached-plan, clean-deploy"):
        find_scenario("nope")


def test_errors_fault_needs_a_duration(tmp_path):
    text = MINIMAL.replace('release = "v2"', 'kind = "errors"')
    with pytest.raises(InputError, match="fault.duration_s: is required"):
        load_scenario(write(tmp_path, text))
    ok = load_scenario(write(tmp_path, text.replace('kind = "errors"', 'kind = "errors"\nduration_s = 2')))
    assert ok.fault.duration_s == 2


def test_objectives_are_what_the_scenario_promises(tmp_path):
    scenario = load_scenario(write(tmp_path, MINIMAL + "[objectives]\ntime_to_detect_s = 5\nfailed_requests = 0\n"))
    assert scenario.objectives.items() == [("time_to_detect_s", 5.0), ("failed_requests", 0.0), ("lost_jobs", 0.0)]
    assert scenario.notes == ()


def test_a_targets_section_still_loads_with_a_note(tmp_path):
    path = write(tmp_path, MINIMAL + "[targets]\ntime_to_detect_s = 5\n")
    scenario = load_scenario(path)
    assert scenario.objectives.time_to_detect_s == 5
    assert scenario.notes == (f"{path}: [targets] is now [objectives]; it still loads",)


def test_a_bad_key_in_an_old_targets_section_is_named_as_written(tmp_path):
    path = write(tmp_path, MINIMAL + "[targets]\ntime_to_detect = 5\n")
    with pytest.raises(InputError, match=r"targets\.time_to_detect: is not a known key"):
        load_scenario(path)


def test_both_targets_and_objectives_is_an_error_naming_the_file_and_key(tmp_path):
    path = write(tmp_path, MINIMAL + "[targets]\nfailed_requests = 0\n[objectives]\nfailed_requests = 0\n")
    with pytest.raises(InputError) as err:
        load_scenario(path)
    assert str(err.value).startswith(f"{path}: targets: ")
    assert "[objectives]" in str(err.value)


def test_the_cli_prints_the_note_once(tmp_path, capsys, monkeypatch):
    from harness import cli

    def no_docker() -> None:
        raise HarnessError("no Docker here")

    path = write(tmp_path, MINIMAL + "[targets]\nfailed_requests = 0\n")
    monkeypatch.setattr(cli, "staging_here", no_docker)
    assert cli.main(["run", str(path), "--reports", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err
    assert err.count("[targets] is now [objectives]; it still loads") == 1


def test_a_target_file_named_in_a_scenario_is_found_beside_the_scenario(tmp_path, monkeypatch):
    app = tmp_path / "team-app"
    shutil.copytree(Path(__file__).parents[2] / "harness" / "targets" / "shop", app)
    scenario_file = app / "deploy-v2.toml"
    scenario_file.write_text('target = "target.toml"\n' + MINIMAL)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the target file must not be looked for here
    scenario = load_scenario(scenario_file)
    assert scenario.target.root == app.resolve()
