"""The `process` kind: its table, the orphan check, and whole rehearsals on the fake stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import InputError
from harness.rehearsal.catalogue import find_scenario, load_scenario
from harness.rehearsal.faults.kinds import KINDS, kind_of
from harness.rehearsal.faults.process import ProcessFault, orphans
from harness.results.timeline import Event
from tests.unit.fakes import FakeProcesses, Host
from tests.unit.test_phases import deploys, rehearse

HEAD = '[detectors.error_rate]\n[fault]\nkind = "process"\n'


def load(tmp_path: Path, fault: str) -> ProcessFault:
    path = tmp_path / "mine.toml"
    path.write_text(HEAD + fault)
    spec = load_scenario(path).fault
    assert isinstance(spec, ProcessFault)
    return spec


def test_the_catalogues_process_scenarios_parse_into_the_kinds_own_spec():
    assert kind_of(find_scenario("worker-killed-mid-job").fault) is KINDS["process"]
    assert find_scenario("worker-killed-mid-job").fault == ProcessFault("worker", "KILL")
    assert find_scenario("database-paused").fault == ProcessFault("database", "STOP", hold_s=6.0)
    assert find_scenario("orphaned-master").fault == ProcessFault("web", "USR2", then="TERM", then_after_s=3.0)
    # A signal deploys nothing: the phases skip the rollback, and say why.
    assert ProcessFault("web", "KILL").traits.no_rollback is not None
    assert ProcessFault("web", "KILL").traits.deploys is False


@pytest.mark.parametrize(
    ("fault", "key", "problem"),
    [
        ('signal = "KILL"\n', "fault.program", "is required: one of web, worker, database"),
        ('program = "cron"\nsignal = "KILL"\n', "fault.program", "must be one of web, worker, database"),
        ('program = "web"\n', "fault.signal", "is required"),
        ('program = "web"\nsignal = "SEGV"\n', "fault.signal", "must be one of KILL"),
        ('program = "database"\nsignal = "KILL"\n', "fault.signal", 'takes "STOP" only'),
        ('program = "web"\nsignal = "STOP"\n', "fault.hold_s", "is required"),
        ('program = "web"\nsignal = "KILL"\nhold_s = 2\n', "fault.hold_s", 'is for signal = "STOP"'),
        ('program = "web"\nsignal = "STOP"\nhold_s = 2\nthen = "TERM"\n', "fault.then", "continued after hold_s"),
        ('program = "web"\nsignal = "USR2"\nthen_after_s = 2\n', "fault.then_after_s", "set then"),
        ('program = "web"\nsignal = "USR2"\nthen = "STOP"\n', "fault.then", "must be one of"),
        ('program = "web"\nsignal = "KILL"\nrelease = "v2"\n', "fault.release", "is not a known key"),
    ],
)
def test_a_bad_process_fault_names_the_file_and_key(tmp_path, fault, key, problem):
    with pytest.raises(InputError) as err:
        load(tmp_path, fault)
    assert str(err.value).startswith(f"{tmp_path / 'mine.toml'}: {key}: "), str(err.value)
    assert problem in str(err.value)


def test_a_target_without_a_worker_cannot_have_its_worker_signalled(tmp_path):
    target = Path(__file__).parents[1] / "targets" / "tiny" / "target.toml"  # a web app, no worker
    path = tmp_path / "mine.toml"
    path.write_text(f'target = "{target}"\n' + HEAD + 'program = "worker"\nsignal = "KILL"\n')
    with pytest.raises(InputError, match="runs no worker"):
        load_scenario(path)


LISTING = """\
1 0 /usr/bin/python3 /usr/bin/supervisord -n -c /etc/supervisor/supervisord.conf
40 1 /usr/bin/python3 /usr/bin/gunicorn --chdir /srv/app/current --bind unix:/run/app/web.sock shop.web:application
41 40 /usr/bin/python3 /usr/bin/gunicorn --chdir /srv/app/current --bind unix:/run/app/web.sock shop.web:application
42 1 python3 -m shop.worker
70 1 /usr/bin/python3.11 /usr/bin/gunicorn --chdir /srv/app/current --bind unix:/run/app/web.sock shop.web:application
71 70 /usr/bin/python3 /usr/bin/gunicorn --chdir /srv/app/current --bind unix:/run/app/web.sock shop.web:application
"""


def test_an_orphan_is_a_second_root_of_the_programs_own_command_line():
    found = orphans(LISTING, 40)
    assert [pid for pid, _ in found] == [70]  # not the main (40), nor a worker of either (41, 71)
    assert orphans(LISTING, 42) == []  # the worker has no second copy
    assert orphans(LISTING, None) == []  # the manager runs none: nothing to compare with
    assert orphans(LISTING.replace("70 1 ", "70 40 "), 40) == []  # a child of the main (USR2, before TERM)
    assert orphans("garbage\n\n", 40) == []


def test_sigkill_to_the_worker_is_sent_through_the_manager_and_never_rolled_back(tmp_path):
    host = Host()
    story = rehearse(tmp_path, find_scenario("worker-killed-mid-job"), host,
                     lambda clock: deploys(host, clock, [], 0.1, 0))
    sent = story.first(Event.FAULT_INJECTED)
    assert sent is not None and (sent["program"], sent["signal"], sent["via"]) == ("worker", "KILL", "fake")
    assert story.deployer.calls == []  # nothing deployed, nothing rolled back
    skipped = story.first(Event.ROLLBACK_SKIPPED)
    assert skipped is not None and "signal" in skipped["reason"]
    assert story.first(Event.RECOVERY_VERIFIED) is not None
    result = story.measured()
    cause = result.incident.cause or ""
    assert cause.startswith(f"gameday sent SIGKILL to worker's main process (pid {sent['pid']}) through fake")
    assert "afterwards worker was RUNNING" in cause and "no request failed or was slower" in cause
    assert result.outcome == "met"


def test_a_stopped_database_is_continued_after_hold_s_on_the_rehearsals_clock(tmp_path):
    host = Host()
    story = rehearse(tmp_path, find_scenario("database-paused"), host,
                     lambda clock: deploys(host, clock, [], 0.1, 0))
    stopped, continued = story.at(Event.FAULT_INJECTED), story.at(Event.FAULT_SIGNALLED, signal="CONT")
    assert stopped == 0.0 and continued == pytest.approx(6.0, abs=0.1)
    assert host.paused is False
    result = story.measured()
    # Everything failed while it was stopped, detected within the objective; no rollback.
    assert result.times.detect_s is not None and result.times.detect_s < 3
    assert story.first(Event.ROLLBACK_STARTED) is None
    assert result.times.recovered_s is not None and result.times.recovered_s > 6
    cause = result.incident.cause or ""
    assert cause.startswith("gameday sent SIGSTOP to the database's processes; gameday sent SIGCONT")
    assert "6.0s later; then " in cause and "until service recovered" in cause
    # Recovery waits for the database: the one gap, with the kind's advice, not a rollback's.
    assert [g.name for g in result.gaps] == ["time_to_recover_s"]
    assert result.gaps[0].cause == cause and "statement" in result.gaps[0].advice


def test_a_second_signal_follows_and_the_orphan_is_a_hygiene_finding(tmp_path, monkeypatch):
    host = Host()
    listing = LISTING.replace("40 1 ", "140 1 ").replace("41 40 ", "41 140 ")

    def exec_(self, argv, env=None):  # the web host's process list, as the kind reads it
        from harness.environment import CommandResult
        return CommandResult(tuple(argv), 0, listing if "/proc" in " ".join(argv) else "", "")

    monkeypatch.setattr("tests.unit.fakes.FakeEnvironment.exec", exec_)
    monkeypatch.setattr(FakeProcesses, "main_pid", lambda self, program: 140)
    story = rehearse(tmp_path, find_scenario("orphaned-master"), host, lambda clock: deploys(host, clock, [], 0.1, 0))
    assert story.at(Event.FAULT_SIGNALLED, signal="TERM") == pytest.approx(3.0, abs=0.1)
    result = story.measured()
    assert result.hygiene is not None and not result.hygiene.clean
    assert "no second web outside fake" in result.hygiene.checks
    assert any("orphaned web (pid 70" in f for f in result.hygiene.findings)
    assert "SIGUSR2" in (result.incident.cause or "") and "SIGTERM" in (result.incident.cause or "")
    assert {g.name for g in result.gaps} == {"hygiene"}
