"""Schema migrations: `up` applies this release's pending ones, `down --to DIR` reverts
those the release in DIR does not have."""

import argparse
import os
import sys
from pathlib import Path

from shop import db

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def ids(directory):
    return sorted(p.name[: -len(".up.sql")] for p in (directory / "migrations").glob("*.up.sql"))


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
        with conn.cursor() as cur:
            cur.execute((MIGRATIONS / f"{mid}.up.sql").read_text())
            cur.execute("INSERT INTO schema_migrations (id) VALUES (%s)", (mid,))
        conn.commit()
        print(f"applied {mid}", flush=True)


def down(conn, target):
    keep = set(ids(Path(target)))
    for mid in reversed(applied(conn)):
        if mid in keep:
            continue
        script = MIGRATIONS / f"{mid}.down.sql"
        if not script.exists():
            sys.exit(f"migration {mid} has no down script")
        with conn.cursor() as cur:
            cur.execute(script.read_text())
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
