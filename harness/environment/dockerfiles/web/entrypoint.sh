#!/bin/sh
# Write the shared environment from the container's, then run the process manager in the
# foreground (supervisord, or systemd as PID 1): nginx and sshd. The first `deploy` starts
# the app and the worker, after gameday has seen the database answer (the process manager
# need not wait for it). systemd's services read the environment from shared/.env.
set -eu
umask 077
{
  echo "PGHOST=${PGHOST}"
  echo "PGPORT=${PGPORT:-5432}"
  echo "PGUSER=${PGUSER}"
  echo "PGPASSWORD=${PGPASSWORD}"
  echo "PGDATABASE=${PGDATABASE}"
} > /srv/app/shared/.env
umask 022
chgrp app /srv/app/shared/.env && chmod 0640 /srv/app/shared/.env
mkdir -p /run/app /srv/app/shared/log /run/sshd
chown app:app /run/app
# The app's own JSON-lines log, written by the app server and the worker.
touch /srv/app/shared/log/app.jsonl && chown app:app /srv/app/shared/log/app.jsonl
[ -f /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key
# The run's public key lets the team's deploy commands in as `deploy` over SSH.
if [ -n "${GAMEDAY_AUTHORIZED_KEY:-}" ]; then
  install -d -m 0700 -o deploy -g deploy /home/deploy/.ssh
  printf '%s\n' "$GAMEDAY_AUTHORIZED_KEY" > /home/deploy/.ssh/authorized_keys
  chown deploy:deploy /home/deploy/.ssh/authorized_keys
  chmod 0600 /home/deploy/.ssh/authorized_keys
fi
if [ "${GAMEDAY_PROCESS_MANAGER:-supervisord}" = systemd ]; then
  exec /lib/systemd/systemd
fi
exec /usr/bin/supervisord -n -c /etc/supervisor/supervisord.conf
