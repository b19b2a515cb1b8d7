"""A Locust plugin file: appends every request to $GAMEDAY_RECORDS as it completes.

One JSON array a line: [start_ts, status, latency_ms, failed, name, error, release], the
numbers first so that a reader can take them without parsing the strings. The file is
line-buffered, so a crash loses at most the line being written. Locust loads this file
beside the scenario's locustfile; it must import nothing from the harness.
"""

import json
import os
import time
from typing import Any

from locust import events

_path = os.environ.get("GAMEDAY_RECORDS")
# The response header that names the release that answered (shop's X-Release); unset: none.
_release_header = os.environ.get("GAMEDAY_RELEASE_HEADER", "")
_out = open(_path, "a", buffering=1) if _path else None  # noqa: SIM115 - lives as long as Locust


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
    if _out is None:
        return
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
    _out.write(json.dumps([round(started, 4), status, round(latency_ms, 1), failed, label, error, release]) + "\n")


def close(environment: Any, **kwargs: Any) -> None:
    if _out is not None:
        _out.flush()


events.request.add_listener(record)  # type: ignore[no-untyped-call]
events.quitting.add_listener(close)  # type: ignore[no-untyped-call]
