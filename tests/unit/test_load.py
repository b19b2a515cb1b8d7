import dataclasses
import json
import sys

import pytest

from harness.errors import InputError
from harness.rehearsal.catalogue import find_scenario
from harness.rehearsal.load import RECORDER, check_host, plan
from harness.results.records import Record, RecordTail, parse_numbers, read_records


def test_locust_runs_headless_with_the_recorder_and_never_fails_on_errors(tmp_path):
    load = find_scenario("bad-migration").load
    p = plan(load, "http://127.0.0.1:49153", tmp_path, 120)
    argv = list(p.argv)
    assert argv[:3] == [sys.executable, "-m", "locust"]
    assert argv[argv.index("-f") + 1] == f"{RECORDER},{load.locustfile}"
    assert "--headless" in argv
    assert argv[argv.index("--exit-code-on-error") + 1] == "0"
    assert argv[argv.index("--host") + 1] == "http://127.0.0.1:49153"
    assert argv[argv.index("--users") + 1] == "20"
    assert dict(p.env)["GAMEDAY_RECORDS"] == str(tmp_path / "requests.jsonl")


def test_distributed_load_is_a_master_and_its_workers_on_one_free_loopback_port(tmp_path):
    load = dataclasses.replace(find_scenario("bad-migration").load, workers=2)
    p = plan(load, "http://127.0.0.1:49153", tmp_path, 120)
    master = list(p.argv)
    assert "--master" in master and master[master.index("--expect-workers") + 1] == "2"
    assert master[master.index("--master-bind-host") + 1] == "127.0.0.1"
    port = master[master.index("--master-bind-port") + 1]
    assert len(p.workers) == 2
    for worker in map(list, p.workers):
        assert "--worker" in worker and "--headless" not in worker and "--users" not in worker
        assert worker[worker.index("--master-host") + 1] == "127.0.0.1"
        assert worker[worker.index("--master-port") + 1] == port
        assert worker[worker.index("-f") + 1] == f"{RECORDER},{load.locustfile}"
    # Only the master writes the records; Locust's own totals go beside them.
    assert dict(p.env)["GAMEDAY_RECORDS"] == str(p.records) and p.stats == tmp_path / "requests.locust.json"
    assert master[master.index("--json-file") + 1] == str(tmp_path / "requests.locust")


def test_one_locust_process_is_the_default_and_remote_workers_are_waited_for(tmp_path):
    load = find_scenario("bad-migration").load
    single = plan(load, "http://127.0.0.1:1", tmp_path, 60)
    assert single.workers == () and "--master" not in single.argv
    remote = dataclasses.replace(load, workers=1, remote_workers=3, master_bind_host="0.0.0.0", master_port=6000)
    p = plan(remote, "http://127.0.0.1:1", tmp_path, 60)
    argv = list(p.argv)
    assert argv[argv.index("--expect-workers") + 1] == "4" and len(p.workers) == 1
    assert argv[argv.index("--master-bind-host") + 1] == "0.0.0.0"
    assert argv[argv.index("--master-bind-port") + 1] == "6000"


@pytest.mark.parametrize("url", ["http://10.0.0.5:80", "http://172.17.0.2", "http://example.com"])
def test_load_refuses_anything_but_loopback(tmp_path, url):
    with pytest.raises(InputError, match="is not a loopback address"):
        plan(find_scenario("bad-migration").load, url, tmp_path, 60)
    assert check_host(url, allow_remote=True) == url


def test_record_tail_waits_for_a_torn_line(tmp_path):
    path = tmp_path / "requests.jsonl"
    tail = RecordTail(path)
    assert tail.read_new() == []
    line = json.dumps([1.5, 200, 12.0, 0, "GET /orders", "", "r1"])
    path.write_text(line + "\n" + line[:10])
    assert tail.read_new() == [Record(1.5, 200, 12.0, False, "GET /orders", "", "r1")]
    with path.open("a") as fh:
        fh.write(line[10:] + "\n")
    assert len(tail.read_new()) == 1


def test_read_records_tolerates_a_torn_last_line_and_garbage(tmp_path):
    path = tmp_path / "requests.jsonl"
    good = json.dumps([1.0, 503, 5.0, 1, "GET /", "status 503", "r1"])
    path.write_text(f"{good}\nnot json\n{good}\n{good[:7]}")
    records = list(read_records(path))
    assert len(records) == 2 and all(r.failed for r in records)


def test_parse_numbers_reads_the_numbers_without_the_strings():
    line = json.dumps([1.25, 503, 7.5, 1, "GET /a,b", "status, 503", "r1"]) + "\n"
    assert parse_numbers(line) == (1.25, 503, 7.5, True)
    assert parse_numbers(line[:-1]) is None  # torn
    assert parse_numbers("garbage\n") is None


def test_load_lost_when_locust_exits_says_its_status_and_last_lines():
    from harness.rehearsal.load import LoadStatus, load_lost

    lost = load_lost(-9, None, False, 1000.0, None, ["Traceback", "KeyError: 'x'"])
    assert lost == (1000.0, "Locust exited with status -9: Traceback | KeyError: 'x'")
    # It went quiet by its last status at the latest, not when gameday next looked; with no
    # shape, a crash that stopped the users first is still the crash, with its exit status.
    last = LoadStatus(ts=990.0, users=0, state="stopped")
    assert load_lost(1, last, True, 1050.0, None) == (990.5, "Locust exited with status 1")


def test_a_load_shape_that_ended_is_load_lost_at_the_time_it_stopped():
    from harness.rehearsal.load import LoadStatus, load_lost

    ended = LoadStatus(ts=990.0, users=0, state="stopped")
    assert load_lost(None, ended, True, 990.3, "Steps") == (990.0, "the locustfile's load shape Steps ended")
    assert load_lost(None, ended, True, 990.3, None) == (990.0, "Locust stopped its users (stopped)")
    # A headless Locust quits when its shape ends: the shape is the cause, not the exit.
    assert load_lost(0, ended, True, 991.0, "Steps") == (990.0, "the locustfile's load shape Steps ended")
    # Before the users ever ran (Locust starting, a master waiting for its workers), 0 users is no loss.
    starting = LoadStatus(ts=990.0, users=0, state="ready")
    assert load_lost(None, starting, False, 990.3, None) is None


def test_a_lull_shorter_than_the_stale_window_is_not_load_lost():
    from harness.rehearsal.load import STATUS_STALE_S, LoadStatus, load_lost

    running = LoadStatus(ts=1000.0, users=20, state="running")
    # Users stuck on a stalled service still run: the status says so, and it is fresh.
    assert load_lost(None, running, True, 1000.0 + STATUS_STALE_S - 0.5, None) is None
    stale = load_lost(None, running, True, 1000.0 + STATUS_STALE_S + 0.5, None)
    assert stale is not None and stale[0] == 1000.0 and "stopped reporting" in stale[1]


def test_the_status_file_is_read_or_ignored_when_torn(tmp_path):
    from harness.rehearsal.load import LoadStatus, read_status

    path = tmp_path / "requests.status.json"
    assert read_status(path) is None
    path.write_text('{"ts": 5.5, "users": 3, "state": "running"}')
    assert read_status(path) == LoadStatus(5.5, 3, "running")
    path.write_text('{"ts": 5.5, "us')
    assert read_status(path) is None


def test_a_locustfile_that_cannot_load_is_one_line_naming_it(tmp_path):
    from harness.rehearsal.load import manifest

    broken = tmp_path / "locustfile.py"
    broken.write_text("from locust import HttpUser, task\nclass U(HttpUser):\n    @task\n    def t(self):\n"
                      "        self.client.get('/x'\n")
    with pytest.raises(InputError) as err:
        manifest(broken)
    assert str(err.value) == f"{broken}: SyntaxError: '(' was never closed (locustfile.py, line 5)"


def test_the_manifest_names_the_user_classes_and_the_load_shape(tmp_path):
    from harness.rehearsal.load import LoadManifest, manifest

    shaped = tmp_path / "shaped.py"
    shaped.write_text("from locust import HttpUser, LoadTestShape, task\nclass Shopper(HttpUser):\n    @task\n"
                      "    def t(self):\n        self.client.get('/')\nclass Steps(LoadTestShape):\n"
                      "    def tick(self):\n        return (10, 10) if self.get_run_time() < 9 else None\n")
    assert manifest(shaped) == LoadManifest(("Shopper",), "Steps")
    assert manifest(find_scenario("bad-migration").load.locustfile).shape is None


def test_records_the_disk_would_not_take_are_load_lost():
    from harness.rehearsal.load import LoadStatus, load_lost

    dropping = LoadStatus(990.0, 20, "running", dropped=12, write_error="No space left on device")
    assert load_lost(None, dropping, True, 990.2, None) == (
        990.0, "Locust could not write 12 request records (No space left on device)")


def test_a_record_with_a_number_that_is_not_finite_is_no_record():
    from harness.results.records import parse_numbers, parse_record

    for line in ('[NaN, 200, 5.0, 0, "GET /", "", ""]\n', '[1.0, 200, Infinity, 0, "GET /", "", ""]\n',
                 '[1e999, 200, 5.0, 0, "GET /", "", ""]\n'):
        assert parse_record(line) is None and parse_numbers(line) is None, line
