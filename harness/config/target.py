"""Targets: what an app is, how its releases are built and how it runs, from target.toml.

Validated once here into frozen values; every error names the file and the key.
"""

from __future__ import annotations

import dataclasses
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config.sources import OverlaySource, ReleaseSource, open_git
from harness.config.tables import NAME, Table, read_toml
from harness.errors import InputError

TARGETS_DIR = Path(__file__).resolve().parent.parent / "targets"
DEPLOY_TOOLS = ("builtin", "commands")
# Keys holding paths: relative to the file that sets them, also through `extends`.
PATH_KEYS = (("locustfile",), ("build", "common"), ("build", "releases"), ("build", "git"), ("deploy", "cwd"))
MAX_EXTENDS = 4


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
class Build:
    """How a release is built. `fetch` runs on the user's machine in each release's files,
    with `{cache}` the target's build cache (cached per release and command list);
    `commands` run in the new release directory on the web host, as a deploy would run
    them, with the cache read-only at `$GAMEDAY_BUILD_CACHE`."""

    packages: tuple[str, ...] = ()
    fetch: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeployCommands:
    """How releases go live: the built-in deploy tool, or the team's own commands, run on
    the user's machine in `cwd` against the replica over SSH. Each is a shell command line;
    `{release}` is the release name."""

    tool: str = "builtin"
    deploy: str | None = None
    rollback: str | None = None
    db_rollback: str | None = None
    cwd: Path | None = None
    timeout_s: float = 600.0


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    database: str
    first_release: str
    root: Path
    source: ReleaseSource
    run: RunCommands
    queue: QueueQueries | None
    locustfile: Path | None
    build: Build = field(default_factory=Build)
    deploy: DeployCommands = field(default_factory=DeployCommands)
    path: Path | None = None  # the target file, for messages about its contracts

    @property
    def releases(self) -> tuple[str, ...]:
        return self.source.names()

    @property
    def packages(self) -> tuple[str, ...]:
        return self.build.packages


def _directory(source: str, root: Path, key: str, value: str) -> Path:
    path = (root / value).resolve()
    if not path.is_dir():
        raise InputError(source, key, f"{value!r} is not a directory next to the target file")
    return path


def _absolute_paths(data: dict[str, Any], root: Path) -> dict[str, Any]:
    """`data` with its path keys made absolute against `root`; URLs and absolute paths stay."""
    data = {key: dict(value) if isinstance(value, dict) else value for key, value in data.items()}
    for keys in PATH_KEYS:
        holder: dict[str, Any] = data
        for key in keys[:-1]:
            inner = holder.get(key)
            holder = inner if isinstance(inner, dict) else {}
        value = holder.get(keys[-1])
        if isinstance(value, str) and value and "://" not in value and ":" not in value.split("/")[0]:
            holder[keys[-1]] = str((root / value).expanduser().resolve())
    return data


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, table by table (a key in a table replaces the base's)."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = {**base[key], **value}
        else:
            merged[key] = value
    return merged


def _target_path(name_or_path: str, relative_to: Path | None = None) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or "/" in name_or_path or candidate.is_dir():
        if relative_to is not None and not candidate.is_absolute():
            candidate = relative_to / candidate
        return candidate / "target.toml" if candidate.is_dir() else candidate
    path = TARGETS_DIR / name_or_path / "target.toml"
    if not path.exists():
        known = ", ".join(sorted(p.name for p in TARGETS_DIR.iterdir() if (p / "target.toml").exists()))
        raise InputError("--target", None, f"no target {name_or_path!r}; bundled targets: {known}")
    return path


def _read_with_extends(path: Path, depth: int = 0) -> dict[str, Any]:
    """The file's tables over those of the target it `extends` (a bundled name or a path
    relative to it), with every path made absolute."""
    data = _absolute_paths(read_toml(path), path.parent.resolve())
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if not isinstance(base_name, str) or not base_name:
        raise InputError(str(path), "extends", f"must name a target or a target file, got {base_name!r}")
    if depth >= MAX_EXTENDS:
        raise InputError(str(path), "extends", f"targets extend each other more than {MAX_EXTENDS} deep")
    try:
        base = _read_with_extends(_target_path(base_name, path.parent), depth + 1)
    except InputError as exc:
        raise InputError(str(path), "extends", exc.problem if exc.key is None else str(exc)) from None
    return _merged(base, data)


def _source(build: Table, source: str, root: Path) -> ReleaseSource:
    git = build.string("git", required=False)
    refs = build.strings("refs")
    common = build.string("common", required=False)
    releases = build.string("releases", required=False)
    if git is not None:
        if common is not None or releases is not None:
            raise build.error("git", "and build.common/build.releases are two sources; keep one")
        if not refs:
            raise build.error("refs", "is required with build.git: the tags, branches or commits to deploy")
        bad = [r for r in refs if not NAME.match(r)]
        if bad:
            raise build.error("refs", f"{bad[0]!r} is not a valid release name (lower case, digits, . _ -)")
        return open_git(source, "build.git", git, root, refs)
    if refs:
        raise build.error("refs", "needs build.git, the repository they are refs of")
    if common is None or releases is None:
        raise build.error("common" if common is None else "releases",
                          "is required: set build.common and build.releases, or build.git and build.refs")
    overlay = OverlaySource(_directory(source, root, "build.common", common),
                            _directory(source, root, "build.releases", releases))
    bad = [r for r in overlay.names() if not NAME.match(r)]
    if bad:
        raise build.error("releases", f"release directory {bad[0]!r} is not a valid name")
    return overlay


def _deploy(table: Table | None, root: Path) -> DeployCommands:
    if table is None:
        return DeployCommands()
    tool = table.choice("tool", DEPLOY_TOOLS, "commands" if table.has("deploy") else "builtin")
    commands = {key: table.string(key, required=tool == "commands" and key != "db_rollback")
                for key in ("deploy", "rollback", "db_rollback")}
    cwd_value = table.string("cwd", required=False)
    timeout_s = float(table.number("timeout_s", 600.0, positive=True, maximum=3600) or 600.0)
    table.finish()
    if tool == "builtin":
        given = [key for key, value in commands.items() if value is not None]
        if given:
            raise table.error(given[0], 'is for tool = "commands"; the built-in tool has its own')
        return DeployCommands()
    cwd = _directory(table.source, root, "deploy.cwd", cwd_value) if cwd_value else root
    for key, line in commands.items():
        if line is None:
            continue
        problem = missing_program(line, cwd)
        if problem:
            raise table.error(key, problem)
    return DeployCommands("commands", commands["deploy"], commands["rollback"], commands["db_rollback"], cwd,
                          timeout_s)


def missing_program(line: str, cwd: Path) -> str | None:
    """Why a command line cannot start here (its program is not installed), else None.

    The program is the first word after any `NAME=value` assignments, found on PATH, or
    relative to `cwd` when it holds a slash.
    """
    try:
        words = shlex.split(line)
    except ValueError as exc:
        return f"is not a valid command line: {exc}"
    words = [w for w in words if not ("=" in w.split("/")[0] and w.split("=")[0].isidentifier())] or [""]
    program = words[0]
    if not program:
        return "is empty"
    if "{" in program:
        return None  # chosen per release; checked when it runs
    if "/" in program:
        path = cwd / program
        return None if path.is_file() and path.stat().st_mode & 0o111 else \
            f"{program!r} is not an executable file (relative to {cwd})"
    if shutil.which(program) is None:
        return f"{program!r} is not installed (not found on PATH)"
    return None


def load_target(path: Path) -> Target:
    source = str(path)
    top = Table(source, _read_with_extends(path))
    root = path.parent.resolve()
    name = top.string("name", pattern=NAME)
    description = top.string("description", required=False) or ""
    database = top.string("database", pattern=NAME)
    first_release = top.string("first_release", pattern=NAME)
    build_table = top.table("build")
    release_source = _source(build_table, source, root)
    build = Build(packages=build_table.strings("packages"), fetch=build_table.strings("fetch"),
                  commands=build_table.strings("commands"))
    build_table.finish()
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
    deploy = _deploy(top.optional_table("deploy"), root)
    top.finish()
    paths = {"run.health_path": commands.health_path, "run.gate_path": commands.gate_path,
             "run.version_path": commands.version_path}
    for key, value in paths.items():
        if value is not None and not value.startswith("/"):
            raise InputError(source, key, f"must be a URL path starting with '/', got {value!r}")
    for key in ("{release}", "{socket}"):
        if key not in commands.web:
            raise InputError(source, "run.web", f"must contain {key} so the deploy tool can run any release")
    assert name and database and first_release
    target = Target(
        name=name,
        description=description,
        database=database,
        first_release=first_release,
        root=root,
        source=release_source,
        run=commands,
        queue=queue,
        locustfile=None,
        build=build,
        deploy=deploy,
        path=path.resolve(),
    )
    if locustfile_value is not None:
        locustfile = (root / locustfile_value).resolve()
        if not locustfile.is_file():
            raise InputError(source, "locustfile", f"{locustfile_value!r} is not a file next to the target file")
        target = dataclasses.replace(target, locustfile=locustfile)
    if first_release not in target.releases:
        raise InputError(source, "first_release", f"{first_release!r} is not one of {', '.join(target.releases)}")
    return target


def find_target(name_or_path: str) -> Target:
    """A bundled target by name (`shop`) or a target.toml path (or its directory)."""
    return load_target(_target_path(name_or_path))
