"""One PostgreSQL connection per thread (the app server runs threads), reopened after a
failure.

With SHOP_PREPARED=1 (a release's config) statements are prepared on the server once per
connection (PREPARE, then EXECUTE), as drivers with server-side prepared statements and
connection pools do, and a query error keeps the connection: only a lost connection is
reopened. A prepared plan whose result type a migration changed then fails with "cached
plan must not change result type" until its connection goes away.
"""

import hashlib
import re
import threading

import psycopg2

_local = threading.local()


def connect(settings):
    return psycopg2.connect(
        host=settings.get("PGHOST", "db"),
        port=settings.get("PGPORT", "5432"),
        user=settings.get("PGUSER", "shop"),
        password=settings.get("PGPASSWORD", ""),
        dbname=settings.get("PGDATABASE", "shop"),
        connect_timeout=2,
        application_name=settings.get("SHOP_APP_NAME", "shop"),
    )


def connection(settings):
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = _local.conn = connect(settings)
        conn.autocommit = True
        _local.prepared = set()
    return conn


def reset():
    conn = getattr(_local, "conn", None)
    if conn is not None:
        try:
            conn.close()
        except Exception:
            pass
    _local.conn = None
    _local.prepared = set()


def after_error(settings):
    """After a request failed: reopen the connection, unless the release keeps its
    connections (SHOP_PREPARED=1) as a pool does."""
    if settings.get("SHOP_PREPARED") != "1":
        reset()


def _prepared(cur, sql):
    """The EXECUTE statement of `sql`, prepared on this connection the first time."""
    name = "shop_" + hashlib.sha1(sql.encode()).hexdigest()[:12]
    done = getattr(_local, "prepared", None)
    if done is None:
        done = _local.prepared = set()
    count = sql.count("%s")
    if name not in done:
        numbered = iter(range(1, count + 1))
        cur.execute(f"PREPARE {name} AS " + re.sub(r"%s", lambda _: f"${next(numbered)}", sql))
        done.add(name)
    return f"EXECUTE {name}" + (f" ({', '.join(['%s'] * count)})" if count else "")


def run(settings, sql, params=(), fetch="all"):
    """Run one statement, retrying once on a connection that went away."""
    for attempt in (1, 2):
        try:
            with connection(settings).cursor() as cur:
                if settings.get("SHOP_PREPARED") == "1":
                    cur.execute(_prepared(cur, sql), params)
                else:
                    cur.execute(sql, params)
                if fetch == "all":
                    return cur.fetchall()
                if fetch == "one":
                    return cur.fetchone()
                return None
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            reset()
            if attempt == 2:
                raise
    return None
