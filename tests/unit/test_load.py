import dataclasses
import json
import sys

import pytest

from harness.config.scenario import find_scenario
from harness.errors import InputError
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
