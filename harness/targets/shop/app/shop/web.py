"""The HTTP API: orders, /health and /version, as a plain WSGI application."""

import json
import os
import re
import time
import urllib.parse

from shop import applog, checkout, config, db, schema

SETTINGS = config.load()
REVISION = config.revision()
BOOTED_AT = time.time()
HEARTBEAT_MAX_AGE_S = float(SETTINGS.get("SHOP_HEARTBEAT_MAX_AGE_S", "10"))
FAULT_FILE = SETTINGS.get("SHOP_FAULT_FILE", "/srv/app/shared/fault.json")
_fault = {"mtime": None, "window": None}
ORDER_PATH = re.compile(r"^/orders/(\d+)$")


def respond(start_response, status, body):
    data = json.dumps(body).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            ("X-Release", REVISION["release"]),
        ],
    )
    return [data]


def fault_window():
    """The error switch: {"from": EPOCH, "until": EPOCH} while a fault is planned."""
    try:
        mtime = os.stat(FAULT_FILE).st_mtime_ns
    except OSError:
        _fault.update(mtime=None, window=None)
        return None
    if mtime != _fault["mtime"]:
        try:
            with open(FAULT_FILE) as fh:
                data = json.load(fh)
            window = (float(data["from"]), float(data["until"]))
        except (OSError, ValueError, KeyError, TypeError):
            window = None
        _fault.update(mtime=mtime, window=window)
    return _fault["window"]


def order_row(row):
    """An order as the API shows it: a renamed column keeps its API name (schema.API_NAMES)."""
    names = getattr(schema, "API_NAMES", {})
    return {names.get(col, col): value for col, value in zip(schema.ORDER_COLUMNS, row)}


def list_orders():
    cols = ", ".join(schema.ORDER_COLUMNS)
    rows = db.run(SETTINGS, f"SELECT {cols} FROM orders ORDER BY id DESC LIMIT 20")
    return "200 OK", {"orders": [order_row(r) for r in rows]}


def show_order(order_id):
    cols = ", ".join(schema.ORDER_COLUMNS)
    row = db.run(SETTINGS, f"SELECT {cols} FROM orders WHERE id = %s", (order_id,), fetch="one")
    if row is None:
        return "404 Not Found", {"error": "no such order"}
    return "200 OK", order_row(row)


def create_order(environ):
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
        values = {
            "item": str(payload["item"]),
            "qty": int(payload.get("qty", 1)),
            "customer": str(payload.get("customer", "")),
            "customer_name": str(payload.get("customer", "")),
            "coupon": payload.get("coupon"),
            "region": str(payload.get("region", "eu")),
        }
    except (ValueError, KeyError, TypeError):
        return "400 Bad Request", {"error": "expected JSON with item and qty"}
    checkout.check(SETTINGS, values, environ.get("HTTP_X_USER", ""))
    cols = schema.WRITE_COLUMNS
    placeholders = ", ".join(["%s"] * len(cols))
    row = db.run(
        SETTINGS,
        f"WITH o AS (INSERT INTO orders ({', '.join(cols)}) VALUES ({placeholders}) RETURNING id) "
        "INSERT INTO jobs (kind, order_id) SELECT %s, id FROM o RETURNING order_id, id",
        (*(values[c] for c in cols), getattr(schema, "ENQUEUE_KIND", "charge")),
        fetch="one",
    )
    return "201 Created", {"id": row[0], "job": row[1]}


def health(skip=()):
    checks = {"booted": {"ok": True, "detail": f"release {REVISION['release']}"}}
    try:
        age = db.run(
            SETTINGS,
            "SELECT EXTRACT(EPOCH FROM now() - max(beat_at)) FROM worker_heartbeat",
            fetch="one",
        )[0]
        checks["db"] = {"ok": True, "detail": "answered"}
        if age is None:
            checks["queue"] = {"ok": False, "detail": "no worker heartbeat yet"}
        else:
            ok = float(age) <= HEARTBEAT_MAX_AGE_S
            checks["queue"] = {"ok": ok, "detail": f"worker heartbeat {float(age):.1f}s old"}
    except Exception as exc:
        checks["db"] = {"ok": False, "detail": str(exc).strip().splitlines()[0]}
        checks["queue"] = {"ok": False, "detail": "not checked: database unavailable"}
    for name in skip:
        checks.pop(name, None)
    failed = [name for name, check in checks.items() if not check["ok"]]
    status = "200 OK" if not failed else "503 Service Unavailable"
    return status, {"ok": not failed, "failed": failed, "checks": checks, **REVISION}


def route(environ):
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO", "/")
    if path == "/health":
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        return health(skip=",".join(query.get("skip", [])).split(","))
    if path == "/version":
        return "200 OK", REVISION
    if path == "/slow":
        # A request that takes as long as asked (capped at a minute): drain rehearsals send
        # ones longer than the app server's graceful timeout across a reload.
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        try:
            ms = min(max(int(query.get("ms", ["0"])[0]), 0), 60_000)
        except ValueError:
            return "400 Bad Request", {"error": "ms must be a whole number of milliseconds"}
        time.sleep(ms / 1000)
        return "200 OK", {"slept_ms": ms}
    if path == "/orders" and method == "GET":
        return list_orders()
    if path == "/orders" and method == "POST":
        return create_order(environ)
    match = ORDER_PATH.match(path)
    if match and method == "GET":
        return show_order(int(match.group(1)))
    return "404 Not Found", {"error": "not found"}


def application(environ, start_response):
    arrived = time.time()
    window = fault_window()
    if window is not None and window[0] <= arrived < window[1]:
        return respond(start_response, "503 Service Unavailable", {"error": "fault injected"})
    try:
        status, body = route(environ)
    except Exception as exc:
        db.after_error(SETTINGS)
        status, body = "500 Internal Server Error", {"error": type(exc).__name__, "detail": str(exc)[:300]}
        applog.log("error", "request_failed", method=environ["REQUEST_METHOD"], path=environ.get("PATH_INFO", "/"),
                   status=500, error=body["error"], detail=body["detail"], release=REVISION["release"])
    return respond(start_response, status, body)
