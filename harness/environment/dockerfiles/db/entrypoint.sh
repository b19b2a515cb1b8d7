#!/bin/sh
# Initialise the cluster on first start (user, password, database), then run postgres
# in the foreground as the postgres user.
set -eu
BIN=$(ls -d /usr/lib/postgresql/*/bin | tail -n 1)
mkdir -p "$PGDATA" /run/postgresql
chown -R postgres:postgres "$PGDATA" /run/postgresql
chmod 0700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  chown postgres "$pwfile"
  # --no-sync: a replica's cluster is thrown away with it, so initdb need not wait for
  # the disk; the server itself runs with PostgreSQL's defaults (fsync on).
  runuser -u postgres -- "$BIN/initdb" --no-sync -D "$PGDATA" -U "$POSTGRES_USER" \
      --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  # The database, made in single-user mode: no server to start and stop first.
  echo "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\"" |
    runuser -u postgres -- "$BIN/postgres" --single -D "$PGDATA" -c exit_on_error=on postgres >/dev/null
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$BIN/postgres" -D "$PGDATA" -c listen_addresses='*'
