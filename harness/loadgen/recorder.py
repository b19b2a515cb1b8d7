"""A Locust plugin file: appends every request to $GAMEDAY_RECORDS as it completes.

One JSON array a line: [start_ts, status, latency_ms, failed, name, error, release], the
numbers first so that a reader can take them without parsing the strings. The file is
line-buffered, so a crash loses at most the line being written. Locust loads this file
beside the scenario's locustfile; it must import nothing from the harness.

In Locust's distributed mode only the master writes the file. A worker, here or on
another machine, sends its lines to the master every FLUSH_S as a custom message
(Locust docs, "Communicating across nodes"). When the master is told to quit, it first
asks every worker to stop its users and send what it holds, and waits for each answer,
so the last requests are neither lost nor written twice: a worker's lines and its answer
travel on one ordered connection.
"""

import json
import os
import time
from typing import Any

import gevent
from locust import events
from locust.runners import MasterRunner, WorkerRunner

RECORDS = "gameday_records"  # worker -> master: a batch of lines
STOP = "gameday_stop"  # master -> worker: stop the users and send what is held
STOPPED = "gameday_stopped"  # worker -> master: done; nothing more will come
FLUSH_S = 0.1  # how often a worker sends its lines: the delay it adds to detection
STATUS_S = 0.5  # how often the writing process says how many users run ($GAMEDAY_LOAD_STATUS)
STOP_WAIT_S = 15.0  # the master's wait for the workers' last lines (users stop in --stop-timeout)

_path = os.environ.get("GAMEDAY_RECORDS")
# A small JSON file the rehearsal watches: {"ts", "users", "state"} of Locust's runner,
# rewritten every STATUS_S and when the test stops (a load shape that ended, say).
_status_path = os.environ.get("GAMEDAY_LOAD_STATUS")
# The response header that names the release that answered (shop's X-Release); unset: none.
_release_header = os.environ.get("GAMEDAY_RELEASE_HEADER", "")
_out: Any = None  # the records file, in the process that writes it
_held: list[str] = []  # a worker's lines not yet sent
_runner: Any = None
_stopped: set[str] = set()  # on the master: workers that sent their last lines
# Lines the records file would not take (a full disk), and why: said in the status, so the
# rehearsal stops judging rather than judge on requests it never saw.
_dropped = 0
_write_error = ""


_quoted: dict[str, str] = {"": '""'}  # JSON strings already made: names and releases repeat


def quoted(text: str) -> str:
    found = _quoted.get(text)
    if found is None:
        found = json.dumps(text)
        if len(_quoted) < 10_000:
            _quoted[text] = found
    return found


def line(
    request_type: str,
    name: str,
    response_time: float | None,
    response: Any = None,
    exception: BaseException | None = None,
    start_time: float | None = None,
) -> str:
    """One record, as the JSON array the module docstring gives; built by hand, as this runs
    once a request in the load generator."""
    latency_ms = float(response_time or 0)
    started = start_time if start_time is not None else time.time() - latency_ms / 1000
    status = getattr(response, "status_code", 0) or 0
    headers = getattr(response, "headers", None)
    release = headers.get(_release_header, "") if headers is not None and _release_header else ""
    error = ""
    if exception is not None:
        error = (str(exception).splitlines() or [type(exception).__name__])[0][:160]
    label = name if name.startswith(f"{request_type} ") else f"{request_type} {name}"
    failed = int(exception is not None)
    return (f"[{started:.4f}, {int(status)}, {latency_ms:.1f}, {failed}, {quoted(label)}, "
            f"{json.dumps(error) if error else quoted('')}, {quoted(str(release or ''))}]")


def record(
    request_type: str,
    name: str,
    response_time: float | None,
    response_length: int,
    response: Any = None,
    exception: BaseException | None = None,
    start_time: float | None = None,
    **kwargs: Any,
) -> None:
    text = line(request_type, name, response_time, response, exception, start_time)
    if isinstance(_runner, WorkerRunner):
        _held.append(text)
    elif _out is not None:
        write_lines(text + "\n", 1)


def write_lines(text: str, count: int) -> None:
    global _dropped, _write_error
    if _out is None:
        return
    try:
        _out.write(text)
    except OSError as exc:
        _dropped += count
        _write_error = exc.strerror or str(exc)


def send_held() -> None:
    global _held
    if _held:
        batch, _held = _held, []
        _runner.send_message(RECORDS, batch)


def sender() -> None:
    while True:
        gevent.sleep(FLUSH_S)
        send_held()


def on_stop_asked(environment: Any, msg: Any, **kwargs: Any) -> None:
    environment.runner.stop()  # the users' last requests are recorded before it returns
    send_held()
    environment.runner.send_message(STOPPED, None)


def on_records(environment: Any, msg: Any, **kwargs: Any) -> None:
    if _out is not None and msg.data:
        write_lines("\n".join(msg.data) + "\n", len(msg.data))


def on_worker_stopped(environment: Any, msg: Any, **kwargs: Any) -> None:
    _stopped.add(msg.node_id)


def write_status(runner: Any, state: str | None = None) -> None:
    if not _status_path:
        return
    status = {"ts": round(time.time(), 3), "users": int(runner.user_count), "state": state or str(runner.state),
              "dropped": _dropped, "write_error": _write_error}
    tmp = f"{_status_path}.tmp"
    try:
        with open(tmp, "w") as fh:
            fh.write(json.dumps(status))
        os.replace(tmp, _status_path)
    except OSError:  # a full disk: the status goes stale, which the rehearsal reads as load lost
        try:
            os.unlink(tmp)
        except OSError:
            pass


def reporter(runner: Any) -> None:
    while True:
        write_status(runner)
        gevent.sleep(STATUS_S)


def stopped(environment: Any, **kwargs: Any) -> None:
    if not isinstance(environment.runner, WorkerRunner):
        write_status(environment.runner, "stopped")


def init(environment: Any, runner: Any = None, **kwargs: Any) -> None:
    global _out, _runner
    _runner = environment.runner
    if isinstance(_runner, WorkerRunner):
        _runner.register_message(STOP, on_stop_asked)
        gevent.spawn(sender)
        return
    if _path:
        _out = open(_path, "a", buffering=1)  # noqa: SIM115 - lives as long as Locust
    gevent.spawn(reporter, _runner)
    if isinstance(_runner, MasterRunner):
        _runner.register_message(RECORDS, on_records)
        _runner.register_message(STOPPED, on_worker_stopped)


def stopping(environment: Any, **kwargs: Any) -> None:
    """On the master, before Locust tells its workers to stop or quit (whether the run time
    ran out or gameday sent SIGTERM): have each worker stop its users and send its last
    lines, and wait for every answer."""
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return
    # A worker the master lost (missing heartbeats) will not answer.
    workers = {client.id for client in runner.clients.values() if client.state != "missing"}
    for worker in workers:
        runner.send_message(STOP, None, worker)
    deadline = time.monotonic() + STOP_WAIT_S
    while not workers <= _stopped and time.monotonic() < deadline:
        gevent.sleep(0.05)


def quitting(environment: Any, **kwargs: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        send_held()
    if _out is not None:
        try:
            _out.flush()
        except OSError:
            pass


events.init.add_listener(init)  # type: ignore[no-untyped-call]
events.request.add_listener(record)  # type: ignore[no-untyped-call]
events.test_stopping.add_listener(stopping)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(stopped)  # type: ignore[no-untyped-call]
events.quitting.add_listener(quitting)  # type: ignore[no-untyped-call]
