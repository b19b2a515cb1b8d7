"""Replicas reused across the rehearsals of a nightly: made once per target and job slot,
reset between rehearsals instead of recreated, and removed when the nightly ends.

A reset puts the replica back where a fresh one starts, before its first deploy: the
app's programs stopped and every process of the app user gone, `/srv/app` restored from
the snapshot taken when the replica was made (log files emptied in place, since nginx and
the process manager keep them open), and the app's database dropped and created again from a
template copied at the same moment. The reset is then proven, not assumed: the layout's
listing and the schema's fingerprint must equal the snapshot's, and no app process may be
left. A replica whose reset is not proven is not used; the rehearsal gets a fresh one.

Only targets deployed by the built-in tool are pooled: a team's commands may keep state
on the host that gameday does not know (a Capistrano repo cache, a lock of their own).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harness.config.target import Target
from harness.environment.images import Images
from harness.environment.replica import DockerStage, Replica, ReplicaEnvironment, Staging, owner_labels
from harness.errors import HarnessError
from harness.results.fingerprint import difference, statements

PRISTINE_TAR = "/var/tmp/gameday-pristine.tar"
PRISTINE_FACTS = "/var/tmp/gameday-pristine.json"
PRISTINE_DATABASE = "gameday_pristine"
# Every path under /srv/app with its type, log files aside (they are emptied, not removed).
LISTING = "cd /srv/app && find . -path ./shared/log -prune -o -printf '%y %p\\n' | sort"
SCHEMA = ("set -a; . /srv/app/shared/.env; set +a; "
          "pg_dump --schema-only --no-owner --no-privileges \"$PGDATABASE\"")
# The pids of the built-in deploy tool's runs still going (a killed rehearsal's). The
# bracket keeps the pattern from matching the shell that runs it.
DEPLOY_RUNNING = """for dir in /proc/[0-9]*; do
  tr '\\0' ' ' < "$dir/cmdline" 2>/dev/null | grep -q '/usr/local/bin/[d]eploy ' && echo "${dir#/proc/}"
done; true"""
# The live processes of the app user, one pid a line (a zombie is dead already: its
# parent reaps it).
APP_PROCESSES = """for dir in /proc/[0-9]*; do
  [ "$(stat -c %U "$dir" 2>/dev/null)" = app ] || continue
  state=$(sed 's/^.*) //' "$dir/stat" 2>/dev/null | cut -c1)
  [ -n "$state" ] && [ "$state" != Z ] && echo "${dir#/proc/}"
done; true"""
# The web host's side of a reset, as root: any deploy still running killed, the app's
# programs stopped (and systemd's start limit forgotten), every process of the app user
# killed (a worker a wrapper left, a gate server) and waited for, the deploy's runtime
# files gone, the layout restored and the logs emptied where they are.
RESET_HOST = f"""
kill -KILL $({DEPLOY_RUNNING}) 2>/dev/null
if [ -d /run/systemd/system ]; then
  systemctl stop web worker >/dev/null 2>&1; systemctl reset-failed web worker >/dev/null 2>&1
else
  supervisorctl stop web worker >/dev/null 2>&1
fi
for _ in $(seq 1 50); do
  left=$({APP_PROCESSES})
  [ -z "$left" ] && break
  kill -KILL $left 2>/dev/null
  sleep 0.1
done
rm -f /run/app/gate-*.sock /run/app/deploy.pid
for log in /srv/app/shared/log/*; do [ -f "$log" ] && : > "$log"; done
find /srv/app -mindepth 1 -maxdepth 1 ! -name shared -exec rm -rf {{}} +
find /srv/app/shared -mindepth 1 -maxdepth 1 ! -name log -exec rm -rf {{}} +
tar -C /srv -xpf {PRISTINE_TAR} --exclude=app/shared/log
true
"""


def snapshot(staging: Staging, replica: Replica, target: Target) -> None:
    """Record what the replica looks like before its first deploy, for `reset`. Raises
    HarnessError when it cannot."""
    staging.exec(replica.web, ["tar", "-C", "/srv", "-cpf", PRISTINE_TAR, "app"])
    staging.sql(replica, "postgres", f'CREATE DATABASE {PRISTINE_DATABASE} TEMPLATE "{target.database}"')
    facts = {"listing": staging.exec(replica.web, ["sh", "-c", LISTING]),
             "schema": staging.exec(replica.web, ["sh", "-c", SCHEMA])}
    staging.write_file(replica, PRISTINE_FACTS, json.dumps(facts))


def reset(staging: Staging, replica: Replica, target: Target) -> list[str]:
    """Put the replica back as `snapshot` found it; returns what the proof found different
    (empty: proven). Raises HarnessError when a command could not run."""
    facts = json.loads(staging.read_file(replica, PRISTINE_FACTS) or "{}")
    if not facts:
        return [f"{replica.run_id} has no snapshot to reset to"]
    staging.exec(replica.web, ["sh", "-c", RESET_HOST])
    staging.sql(replica, "postgres", f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
    staging.sql(replica, "postgres", f'CREATE DATABASE "{target.database}" TEMPLATE {PRISTINE_DATABASE}')
    problems = []
    listing = staging.exec(replica.web, ["sh", "-c", LISTING])
    if listing != facts["listing"]:
        before, after = set(facts["listing"].splitlines()), set(listing.splitlines())
        problems.append("the release layout differs from a fresh replica's: "
                        + ", ".join(sorted(after - before) + [f"missing {p}" for p in sorted(before - after)])[:300])
    leftover, missing = difference(statements(facts["schema"]),
                                   statements(staging.exec(replica.web, ["sh", "-c", SCHEMA])))
    if leftover or missing:
        problems.append("the schema differs from a fresh database's: "
                        + ", ".join(leftover + [f"missing {m}" for m in missing]))
    left = staging.exec(replica.web, ["sh", "-c", APP_PROCESSES]).split()
    if left:
        problems.append(f"app processes still run: {', '.join(left)}")
    if staging.exec(replica.web, ["sh", "-c", DEPLOY_RUNNING]).strip():
        problems.append("a deploy is still running")
    return problems


def reusable(target: Target) -> bool:
    """Whether a target's replicas may be reused: those the built-in deploy tool deploys."""
    return target.deploy.tool == "builtin"


@dataclass
class PooledStage:
    """Provisions a rehearsal on an existing replica (`run_id`), reset first and proven
    clean; left running on exit for the next one. When the reset is not proven, a fresh
    replica (`fresh`) is provisioned instead, and `say` names why. `describe` says which
    of the two the last rehearsal got."""

    staging: Staging
    target: Target
    run_id: str
    fresh: DockerStage
    say: Callable[[str], None]
    replica: str = "not provisioned yet"

    @contextmanager
    def provision(self, run_id: str, scenario: str, run_dir: Path) -> Iterator[ReplicaEnvironment]:
        try:
            replica = self.staging.find(self.run_id)
            problems = reset(self.staging, replica, self.target)
        except HarnessError as exc:
            problems = [str(exc)]
        if problems:
            self.say(f"replica {self.run_id} was not reused ({'; '.join(problems)}); starting a fresh one")
            self.replica = f"fresh {run_id}: {self.run_id} was not reused ({'; '.join(problems)})"
            with self.fresh.provision(run_id, scenario, run_dir) as environment:
                yield environment
            return
        self.replica = f"reused {self.run_id}"
        (run_dir / "replica.json").write_text(json.dumps({"reused": self.run_id, "reset": "proven"}) + "\n")
        yield ReplicaEnvironment(self.staging, replica)

    def describe(self) -> dict[str, str]:
        return {**self.fresh.describe(), "replica": self.replica}


@dataclass
class ReplicaPool:
    """The nightly's replicas: one per target and worker thread, made on first use, each
    labelled as owned by this process (so a later gameday sweeps them if it dies)."""

    staging: Staging
    make_id: Callable[[str], str]
    made: list[str] = field(default_factory=list)
    closed: bool = False
    _slots: threading.local = field(default_factory=threading.local)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def replica_for(self, target: Target, images: Images) -> str | None:
        """This thread's replica of `target`, made and snapshotted the first time; None
        (the rehearsal gets a fresh replica) when it could not be made."""
        slots: dict[str, str | None] = getattr(self._slots, "by_target", None) or {}
        self._slots.by_target = slots
        if target.name not in slots:
            run_id = self.make_id(target.name)
            with self._lock:
                if self.closed:
                    return None
                self.made.append(run_id)
            slots[target.name] = None  # tried once: a target that fails here gets fresh replicas
            try:
                replica = self.staging.create(target, images, run_id, "nightly-pool", owner_labels("run"))
                snapshot(self.staging, replica, target)
            except HarnessError as exc:
                self.staging.say(f"no replica of {target.name} to reuse ({exc}); each rehearsal gets a fresh one")
                return None
            with self._lock:
                if self.closed:  # the nightly ended while this one was made: close() did not see it
                    self.staging.remove(run_id)
                    return None
            slots[target.name] = run_id
        return slots[target.name]

    def close(self) -> None:
        """Remove every replica the pool made; never raises for one already gone."""
        with self._lock:
            self.closed = True
            made, self.made = self.made, []
        for run_id in made:
            try:
                self.staging.remove(run_id)
            except HarnessError as exc:
                self.staging.say(f"could not remove the pooled replica {run_id}: {exc}")
