"""Move the database schema back to what an older release's code expects.

Run in the release being abandoned (the newer code, which knows how to undo its own
migrations):

    .venv/bin/python manage.py rollback_schema --to /srv/app/releases/<older>

The older release's own interpreter lists its leaf migrations. Everything applied
beyond them is unapplied, newest first; nothing is ever applied forwards. One line is
printed per app moved; any problem exits non-zero with a message.
"""

import json
import subprocess
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

# Runs in the older release dir, with its interpreter, code and settings.
LEAVES_SCRIPT = """
import json, django
django.setup()
from django.db import connection
from django.db.migrations.loader import MigrationLoader
print(json.dumps(sorted(MigrationLoader(connection).graph.leaf_nodes())))
"""


class Command(BaseCommand):
    help = "Unapply migrations newer than those of the release at --to."

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, help="directory of the older release")

    def handle(self, *args, **options):
        target = Path(options["to"]).resolve()
        old_leaves = [tuple(node) for node in self.leaves_of(target)]

        executor = MigrationExecutor(connection)
        loader = executor.loader
        graph = loader.graph
        try:
            loader.check_consistent_history(connection)
        except Exception as exc:
            raise CommandError(f"migration history is inconsistent: {exc}") from exc
        if loader.detect_conflicts():
            raise CommandError(f"conflicting migrations in this release: {loader.detect_conflicts()}")

        unknown = [f"{app}.{name}" for app, name in old_leaves if (app, name) not in graph.nodes]
        if unknown:
            raise CommandError(f"{target.name} has migrations this release does not know: {', '.join(unknown)}")

        old_apps = {app for app, _ in old_leaves}
        new_only = sorted(loader.migrated_apps - old_apps)  # apps the older code lacks: unapply fully
        targets = old_leaves + [(app, None) for app in new_only]
        plan = executor.migration_plan(targets)

        forwards = [f"{m.app_label}.{m.name}" for m, backwards in plan if not backwards]
        if forwards:
            raise CommandError(f"database is behind {target.name}; would apply {', '.join(forwards)}")
        keep = {node for leaf in old_leaves for node in graph.forwards_plan(leaf)}
        clash = [f"{m.app_label}.{m.name}" for m, _ in plan if (m.app_label, m.name) in keep]
        if clash:
            raise CommandError(f"refusing to unapply migrations {target.name} needs: {', '.join(clash)}")
        if not plan:
            self.stdout.write(f"schema already matches {target.name}")
            return

        try:
            executor.migrate(targets, plan=plan)
        except Exception as exc:
            raise CommandError(f"unapplying failed ({type(exc).__name__}: {exc}); "
                               "migrations unapplied before the failure stay unapplied") from exc

        undone = {}
        for migration, _ in plan:
            undone.setdefault(migration.app_label, []).append(migration.name)
        for app, names in undone.items():
            now = "+".join(name for a, name in old_leaves if a == app) or "zero"
            more = f" ({len(names)} unapplied)" if len(names) > 1 else ""
            self.stdout.write(f"{app}: {names[0]} -> {now}{more}")

    def leaves_of(self, target):
        python = target / ".venv" / "bin" / "python"
        if not python.exists():
            raise CommandError(f"no interpreter at {python}")
        try:
            result = subprocess.run([str(python), "-c", LEAVES_SCRIPT], cwd=target,
                                    capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            raise CommandError(f"listing migrations of {target.name} timed out")
        if result.returncode != 0:
            # The exception line is the last one not indented (messages may run on).
            lines = [line for line in result.stderr.splitlines() if line[:1].strip()]
            raise CommandError(f"could not list migrations of {target.name}: {(lines or ['no output'])[-1]}")
        try:
            return json.loads(result.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise CommandError(f"unexpected output listing migrations of {target.name}: {result.stdout!r}")
