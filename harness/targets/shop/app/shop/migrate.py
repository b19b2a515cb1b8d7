"""Schema migrations: `up` applies this release's pending ones, `down --to DIR` reverts
those the release in DIR does not have.

A migration is `ID.up.sql` (one transaction) or `ID.up.py`, a data migration whose
`up(conn)` commits as it goes, such as a backfill in batches; each has a matching down.
An SQL file whose first line is `-- shop:no-transaction` runs statement by statement in
autocommit, as `CREATE INDEX CONCURRENTLY` must (PostgreSQL refuses it in a transaction
block); a failure part-way leaves what the statements before it did.
"""

import argparse
import importlib.util
import os
import sys
from pathlib import Path

import psycopg2

from shop import db

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def ids(directory):
    found = (directory / "migrations").glob("*.up.*")
    return sorted({p.name.split(".up.")[0] for p in found if p.suffix in (".sql", ".py")})


def script(mid, direction):
    """The migration's file for `direction` ("up" or "down"), or None."""
    for suffix in (".sql", ".py"):
        path = MIGRATIONS / f"{mid}.{direction}{suffix}"
        if path.exists():
            return path
    return None


NO_TRANSACTION = "-- shop:no-transaction"


def statements(sql):
    """The statements of an SQL file, split at semicolons that end a line; comments dropped."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";\n") if part.strip().rstrip(";").strip()]


def execute(conn, path):
    """Run one migration file: SQL in the caller's transaction (or, marked no-transaction,
    each statement on its own in autocommit), Python through its own `up`/`down`
    function (which may commit in batches)."""
    if path.suffix == ".sql":
        sql = path.read_text()
        if sql.startswith(NO_TRANSACTION):
            conn.commit()
            conn.autocommit = True
            try:
                with conn.cursor() as cur:
                    for statement in statements(sql):
                        cur.execute(statement)
            finally:
                try:
                    with conn.cursor() as cur:
                        cur.execute("RESET ALL")  # its SETs (a statement_timeout) end with it
                except psycopg2.Error:
                    pass  # the connection is gone; the statement's own error is the one to show
                conn.autocommit = False
            return
        with conn.cursor() as cur:
            cur.execute(sql)
        return
    spec = importlib.util.spec_from_file_location(f"migration_{path.stem.replace('.', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    getattr(module, path.name.split(".")[1])(conn)


def applied(conn):
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur.execute("SELECT id FROM schema_migrations ORDER BY id")
        return [r[0] for r in cur.fetchall()]


def up(conn):
    done = set(applied(conn))
    conn.commit()
    for mid in ids(MIGRATIONS.parent):
        if mid in done:
            continue
        execute(conn, script(mid, "up"))
        with conn.cursor() as cur:
            cur.execute("INSERT INTO schema_migrations (id) VALUES (%s)", (mid,))
        conn.commit()
        print(f"applied {mid}", flush=True)


def down(conn, target):
    keep = set(ids(Path(target)))
    for mid in reversed(applied(conn)):
        if mid in keep:
            continue
        path = script(mid, "down")
        if path is None:
            sys.exit(f"migration {mid} has no down script")
        execute(conn, path)
        with conn.cursor() as cur:
            cur.execute("DELETE FROM schema_migrations WHERE id = %s", (mid,))
        conn.commit()
        print(f"reverted {mid}", flush=True)


def main():
    parser = argparse.ArgumentParser(prog="shop.migrate")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up")
    down_parser = sub.add_parser("down")
    down_parser.add_argument("--to", required=True)
    args = parser.parse_args()
    # Migrations use the host's shared credentials, never a release's own config.
    conn = db.connect(dict(os.environ))
    try:
        if args.command == "up":
            up(conn)
        else:
            down(conn, args.to)
    finally:
        conn.close()


if __name__ == "__main__":
    main()
