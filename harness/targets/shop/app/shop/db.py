"""One PostgreSQL connection per thread (the app server runs threads), reopened after a
failure."""

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
    return conn


def reset():
    conn = getattr(_local, "conn", None)
    if conn is not None:
        try:
            conn.close()
        except Exception:
            pass
    _local.conn = None


def run(settings, sql, params=(), fetch="all"):
    """Run one statement, retrying once on a connection that went away."""
    for attempt in (1, 2):
        try:
            with connection(settings).cursor() as cur:
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
