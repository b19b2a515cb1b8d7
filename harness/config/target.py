"""Targets: what an app is, how its releases are built and how it runs, from target.toml.

Validated once here into frozen values; every error names the file and the key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from harness.config.tables import NAME, Table, read_toml
from harness.errors import InputError

TARGETS_DIR = Path(__file__).resolve().parent.parent / "targets"


@dataclass(frozen=True)
class RunCommands:
    web: str
    worker: str | None  # no background worker: none is run or restarted
    health_path: str
    gate_path: str
    version_path: str | None  # no version endpoint: the served release is not checked
    release_header: str | None  # the response header naming the release that answered
    migrate: str
    down_migrate: str | None
    error_switch: str | None


@dataclass(frozen=True)
class QueueQueries:
    lag_sql: str
    jobs_sql: str


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    database: str
    first_release: str
    packages: tuple[str, ...]
    root: Path
    common: Path
    releases_dir: Path
    run: RunCommands
    queue: QueueQueries | None
    locustfile: Path | None

    @property
    def releases(self) -> tuple[str, ...]:
        return tuple(sorted(p.name for p in self.releases_dir.iterdir() if p.is_dir()))


def _directory(source: str, root: Path, key: str, value: str) -> Path:
    path = (root / value).resolve()
    if not path.is_dir():
        raise InputError(source, key, f"{value!r} is not a directory next to the target file")
    return path


def load_target(path: Path) -> Target:
    source = str(path)
    top = Table(source, read_toml(path))
    name = top.string("name", pattern=NAME)
    description = top.string("description", required=False) or ""
    database = top.string("database", pattern=NAME)
    first_release = top.string("first_release", pattern=NAME)
    build = top.table("build")
    packages = build.strings("packages")
    common = build.string("common")
    releases = build.string("releases")
    build.finish()
    run = top.table("run")
    commands = RunCommands(
        web=str(run.string("web")),
        worker=run.string("worker", required=False),
        health_path=str(run.string("health_path")),
        gate_path=str(run.string("gate_path", required=False) or run.data.get("health_path", "")),
        version_path=run.string("version_path", required=False),
        release_header=run.string("release_header", required=False),
        migrate=str(run.string("migrate")),
        down_migrate=run.string("down_migrate", required=False),
        error_switch=run.string("error_switch", required=False),
    )
    run.finish()
    queue_table = top.optional_table("queue")
    queue = None
    if queue_table is not None:
        queue = QueueQueries(lag_sql=str(queue_table.string("lag_sql")), jobs_sql=str(queue_table.string("jobs_sql")))
        queue_table.finish()
        if "{since}" not in queue.jobs_sql:
            raise InputError(source, "queue.jobs_sql", "must contain {since}")
    locustfile_value = top.string("locustfile", required=False)
    top.finish()
    paths = {"run.health_path": commands.health_path, "run.gate_path": commands.gate_path,
             "run.version_path": commands.version_path}
    for key, value in paths.items():
        if value is not None and not value.startswith("/"):
            raise InputError(source, key, f"must be a URL path starting with '/', got {value!r}")
    for key in ("{release}", "{socket}"):
        if key not in commands.web:
            raise InputError(source, "run.web", f"must contain {key} so the deploy tool can run any release")
    assert name and database and first_release and common and releases
    root = path.parent.resolve()
    target = Target(
        name=name,
        description=description,
        database=database,
        first_release=first_release,
        packages=packages,
        root=root,
        common=_directory(source, root, "build.common", common),
        releases_dir=_directory(source, root, "build.releases", releases),
        run=commands,
        queue=queue,
        locustfile=None,
    )
    if locustfile_value is not None:
        locustfile = (root / locustfile_value).resolve()
        if not locustfile.is_file():
            raise InputError(source, "locustfile", f"{locustfile_value!r} is not a file next to the target file")
        target = dataclasses.replace(target, locustfile=locustfile)
    bad = [r for r in target.releases if not NAME.match(r)]
    if bad:
        raise InputError(source, "build.releases", f"release directory {bad[0]!r} is not a valid name")
    if first_release not in target.releases:
        raise InputError(source, "first_release", f"{first_release!r} is not one of {', '.join(target.releases)}")
    return target


def find_target(name_or_path: str) -> Target:
    """A bundled target by name (`shop`) or a target.toml path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.is_dir():
        path = candidate / "target.toml" if candidate.is_dir() else candidate
        return load_target(path)
    path = TARGETS_DIR / name_or_path / "target.toml"
    if not path.exists():
        known = ", ".join(sorted(p.name for p in TARGETS_DIR.iterdir() if (p / "target.toml").exists()))
        raise InputError("--target", None, f"no target {name_or_path!r}; bundled targets: {known}")
    return load_target(path)
