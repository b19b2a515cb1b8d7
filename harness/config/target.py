"""Targets: what an app is, how its releases are built and how it runs, from target.toml.

Validated once here into frozen values; every error names the file and the key.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import re
import shlex
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.config.sources import NamedReleases, OverlaySource, ReleaseSource, open_git
from harness.config.tables import NAME, Table, is_dir, is_file, read_toml
from harness.errors import InputError
from harness.redaction import redact_text, secrets_of_dsn, secrets_of_url

TARGETS_DIR = Path(__file__).resolve().parent.parent / "targets"
DEPLOY_TOOLS = ("builtin", "commands")
# Keys holding paths: relative to the file that sets them, also through `extends`.
PATH_KEYS = (("locustfile",), ("build", "common"), ("build", "releases"), ("build", "git"), ("deploy", "cwd"))
MAX_EXTENDS = 4
# The process managers a web host can run (harness/environment/processes.py implements each).
PROCESS_MANAGERS = ("supervisord", "systemd")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


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
    # How long the app server lets requests in flight finish after a reload or stop (for
    # gunicorn: --timeout on a HUP reload, --graceful-timeout on a stop), for the drain
    # table; None: not known.
    graceful_timeout_s: float | None = None
    # What runs the app server and the worker on the web host: one of PROCESS_MANAGERS.
    process_manager: str = "supervisord"


@dataclass(frozen=True)
class QueueQueries:
    lag_sql: str
    jobs_sql: str


@dataclass(frozen=True)
class FlagStore:
    """How a feature flag is turned on for a share of users and off again: SQL run against
    the target's database, or a command run in the web host. `{flag}` is the flag's name
    and `{percent}` the share of users, 0 to 100."""

    sql: str | None = None
    command: str | None = None

    def render(self, flag: str, percent: int) -> str:
        """The SQL or command line that sets `flag` to `percent`."""
        template = self.sql if self.sql is not None else self.command
        assert template is not None
        return template.replace("{flag}", flag).replace("{percent}", str(percent))


@dataclass(frozen=True)
class Migrations:
    """Where a release keeps its schema migrations, and how the database records them.

    `files` is a glob of paths inside a release (`*` also matches `/`): every migration
    file, up and down scripts' up halves only (the `.sql` ones are linted with squawk).
    `applied_sql` returns one row per applied migration, its id first. `id_pattern`'s
    first group takes a migration's id from its file name (default: up to the first dot,
    so `002_add_coupon.up.sql` is `002_add_coupon`)."""

    files: str | None = None
    applied_sql: str | None = None
    id_pattern: str = r"^([^.]+)"

    def id_of(self, path: str) -> str | None:
        """The migration id of a file path inside a release, or None when the name has none."""
        found = re.match(self.id_pattern, path.rsplit("/", 1)[-1])
        return found.group(1) if found and found.groups() else None

    def paths(self, files: Iterable[str]) -> list[str]:
        """The paths among `files` (inside a release) that are migrations, sorted."""
        return sorted(p for p in files if self.files is not None and fnmatch.fnmatchcase(p, self.files))


@dataclass(frozen=True)
class Build:
    """How a release is built. `fetch` runs on the user's machine in each release's files,
    with `{cache}` the target's build cache (cached per release and command list);
    `commands` run in the new release directory on the web host, as a deploy would run
    them, with the cache read-only at `$GAMEDAY_BUILD_CACHE`."""

    packages: tuple[str, ...] = ()
    fetch: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()


# The built-in deploy tool's deploy steps, in order (harness/webhost/deploytool.py `deploy`).
KILLABLE_STEPS = ("lock", "release", "shared", "build", "snapshot", "migrate", "gate", "swap", "reload")


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

    @property
    def own_commands(self) -> bool:
        """The team's own deploy commands go live (not the built-in tool): the target's
        `deploy.deploy` is what a failed deploy points at."""
        return self.tool == "commands"

    @property
    def killable_steps(self) -> tuple[str, ...]:
        """The deploy steps after which a deploy can be killed (`fault.killed_after`): the
        built-in tool's, which it logs and stops at on request; none for a team's commands."""
        return KILLABLE_STEPS if self.tool == "builtin" else ()

    def to_json(self) -> str:
        """One line of JSON, as a replica's label keeps it for `gameday rollback --run`."""
        return json.dumps({**dataclasses.asdict(self), "cwd": None if self.cwd is None else str(self.cwd)})

    @classmethod
    def from_json(cls, text: str) -> DeployCommands:
        data = json.loads(text)
        return cls(**{**data, "cwd": None if data.get("cwd") is None else Path(data["cwd"])})


@dataclass(frozen=True)
class ExistingEnvironment:
    """An environment that exists already (a team's staging VM, a platform app on Render
    or Fly), used instead of a Docker replica: reached at `url` by load and probes, changed
    only by the target's deploy commands, and its database by `dsn` (psql on this machine)
    when given."""

    url: str
    dsn: str | None = None


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
    flags: FlagStore | None = None  # no flag store: scenarios cannot flip a flag
    # JSON-lines logs on the web host, by name ("access": the proxy's, one line a request
    # with its "status"; "app": the app's own), for log detectors; empty: none.
    logs: dict[str, str] = field(default_factory=dict)
    migrations: Migrations = field(default_factory=Migrations)  # left out: no lint, no applied-migration check
    environment: ExistingEnvironment | None = None  # None: gameday builds a Docker replica
    # Environment variables whose values gameday masks in every output (an API token a
    # deploy command reads): harness.redaction.
    secrets: tuple[str, ...] = ()
    # Programs its commands need that this machine lacks, each one line naming the file,
    # the key and how to install it: loaded with `tools_required=False` (`gameday list`,
    # the nightly), a target may lack them; a rehearsal of it refuses to start.
    missing_tools: tuple[str, ...] = ()

    @property
    def releases(self) -> tuple[str, ...]:
        return self.source.names()

    @property
    def packages(self) -> tuple[str, ...]:
        return self.build.packages

    def secret_values(self) -> list[str]:
        """What gameday masks in its outputs for this target (harness.redaction): the values
        its `secrets` variables have here, and the passwords of its environment's URL and DSN."""
        found = [value for name in self.secrets if (value := os.environ.get(name))]
        if self.environment is not None:
            found += secrets_of_url(self.environment.url) + secrets_of_dsn(self.environment.dsn)
        return found


def _directory(source: str, root: Path, key: str, value: str) -> Path:
    path = (root / value).resolve()
    if not is_dir(path):
        raise InputError(source, key, f"{value!r} is not a directory next to the target file")
    return path


def _absolute(value: str, root: Path) -> str:
    """A path value as an absolute path (`~` expanded, relative ones against `root`);
    a URL (`https://…`, `git@host:…`) stays as it is."""
    if "://" in value or ":" in value.split("/")[0]:
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (root / path).resolve())


def _absolute_paths(data: dict[str, Any], root: Path) -> dict[str, Any]:
    """`data` with its path keys made absolute against `root`."""
    data = {key: dict(value) if isinstance(value, dict) else value for key, value in data.items()}
    for keys in PATH_KEYS:
        holder: dict[str, Any] = data
        for key in keys[:-1]:
            inner = holder.get(key)
            holder = inner if isinstance(inner, dict) else {}
        value = holder.get(keys[-1])
        if isinstance(value, str) and value:
            holder[keys[-1]] = _absolute(value, root)
    return data


# Where releases come from is one choice: a file that sets one source (git + refs, or
# common + releases) drops the other source its base had.
SOURCES = ({"git", "refs"}, {"common", "releases"})
# Tables that are one choice as a whole: a file's own table replaces the base's.
WHOLE_TABLES = ("deploy",)


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, table by table: a key in a table replaces the base's, a
    table in WHOLE_TABLES replaces it whole, and a build source replaces the other one."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and key not in WHOLE_TABLES:
            kept = dict(base[key])
            if key == "build":
                for mine, theirs in (SOURCES, SOURCES[::-1]):
                    if mine & value.keys():
                        kept = {k: v for k, v in kept.items() if k not in theirs}
            merged[key] = {**kept, **value}
        else:
            merged[key] = value
    return merged


def _target_path(name_or_path: str, relative_to: Path | None = None) -> Path:
    """The target file a name or path means: a path (it ends in .toml, holds a slash, or
    is a directory, relative to `relative_to` when given), else a bundled target."""
    candidate = Path(name_or_path).expanduser()
    if relative_to is not None and not candidate.is_absolute():
        candidate = relative_to / candidate
    if candidate.suffix == ".toml" or "/" in name_or_path or is_dir(candidate):
        return candidate / "target.toml" if is_dir(candidate) else candidate
    path = TARGETS_DIR / name_or_path / "target.toml"
    if not is_file(path):
        known = ", ".join(sorted(p.name for p in TARGETS_DIR.iterdir() if (p / "target.toml").exists()))
        raise InputError("--target", None, f"no target {name_or_path!r}; bundled targets: {known}")
    return path


def _read_with_extends(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The file's tables over those of the target it `extends` (a bundled name or a path
    relative to it), with every path made absolute."""
    data = _absolute_paths(read_toml(path), path.parent.resolve())
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if not isinstance(base_name, str) or not base_name:
        raise InputError(str(path), "extends", f"must name a target or a target file, got {base_name!r}")
    try:
        base_path = _target_path(base_name, path.parent)
    except InputError as exc:
        raise InputError(str(path), "extends", exc.problem) from None
    chain = (*seen, path.resolve())
    if base_path.resolve() in chain:
        raise InputError(str(path), "extends", f"{base_name!r} extends this file again: a loop")
    if len(chain) > MAX_EXTENDS:
        raise InputError(str(path), "extends", f"targets extend each other more than {MAX_EXTENDS} deep")
    if not is_file(base_path):
        raise InputError(str(path), "extends", f"{base_name!r}: there is no target file {base_path}")
    return _merged(_read_with_extends(base_path, chain), data)


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
        twice = sorted({r for r in refs if refs.count(r) > 1})
        if twice:
            raise build.error("refs", f"{twice[0]!r} is listed twice; each release is deployed by its name")
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
    for release in overlay.names():
        try:
            overlay.chain(release)
        except ValueError as exc:
            raise build.error("releases", str(exc)) from None
    return overlay


def _environment(table: Table) -> tuple[ExistingEnvironment, tuple[str, ...]]:
    url = str(table.string("url"))
    if not re.match(r"^https?://[^/\s]+", url):
        raise table.error("url", f"must be an http:// or https:// URL, got {redact_text(url)!r}")
    try:
        if urlsplit(url).port == 0:
            raise ValueError("Port 0 is not a port a server listens on")
    except ValueError as exc:
        raise table.error("url", f"{redact_text(url)!r}: {exc}") from None
    dsn = table.string("dsn", required=False)
    names = table.strings("releases")
    bad = [r for r in names if not NAME.match(r)]
    if bad:
        raise table.error("releases", f"{bad[0]!r} is not a valid release name (lower case, digits, . _ -)")
    table.finish()
    return ExistingEnvironment(url.rstrip("/"), dsn), names


def _check_existing(source: str, existing: ExistingEnvironment, deploy: DeployCommands, run: RunCommands,
                    queue: QueueQueries | None, flags: FlagStore | None, logs: dict[str, str],
                    migrations: Migrations) -> None:
    """What an existing environment can and cannot do: gameday reaches it only by its URL,
    the deploy commands and, with a DSN, its database."""
    if deploy.tool != "commands":
        raise InputError(source, "deploy.tool", 'must be "commands" with [environment]: the built-in deploy tool '
                         "runs inside a replica")
    if run.version_path is None and run.release_header is None:
        raise InputError(source, "run.version_path", "or run.release_header is required with [environment]: "
                         "without host access, the app itself must say which release is live")
    host_only = {"run.worker": run.worker, "run.error_switch": run.error_switch,
                 "logs": logs or None, "flags.command": flags.command if flags else None}
    for key, value in host_only.items():
        if value is not None:
            raise InputError(source, key, "needs a shell on the web host, which an existing environment does not "
                             "give gameday; leave it out")
    if existing.dsn is None:
        needs_db = {"queue": queue is not None, "flags.sql": flags is not None and flags.sql is not None,
                    "migrations.applied_sql": migrations.applied_sql is not None}
        for key, given in needs_db.items():
            if given:
                raise InputError(source, key, "runs SQL: give environment.dsn, or leave it out")


# How to install a deploy tool a target names, by program (Debian's package, or PyPI's).
INSTALL = {"cap": "apt-get install capistrano", "ssh": "apt-get install openssh-client",
           "ssh-keygen": "apt-get install openssh-client", "git": "apt-get install git",
           "psql": "apt-get install postgresql-client", "ansible-playbook": "pipx install ansible",
           "fab": "pipx install fabric", "rsync": "apt-get install rsync"}


def install_hint(program: str) -> str:
    return INSTALL.get(program, f"install {program}")


def _deploy(table: Table | None, root: Path, ssh: bool = True,
            missing: list[InputError] | None = None) -> DeployCommands:
    """The [deploy] table. A program that is not installed is an InputError, appended to
    `missing` when given instead of raised."""
    if table is None:
        return DeployCommands()

    def lacking(error: InputError) -> None:
        if missing is None:
            raise error
        missing.append(error)

    given = any(table.has(key) for key in ("deploy", "rollback", "db_rollback"))
    tool = table.choice("tool", DEPLOY_TOOLS, "commands" if given else "builtin")
    commands = {key: table.string(key, required=tool == "commands" and key != "db_rollback")
                for key in ("deploy", "rollback", "db_rollback")}
    cwd_value = table.string("cwd", required=False)
    timeout_s = float(table.number("timeout_s", 600.0, positive=True, maximum=3600) or 600.0)
    table.finish()
    if tool == "builtin":
        extra = [key for key, value in commands.items() if value is not None]
        if extra:
            raise table.error(extra[0], 'is for tool = "commands"; the built-in tool has its own')
        return DeployCommands()
    cwd = _directory(table.source, root, "deploy.cwd", cwd_value) if cwd_value else root
    if ssh and shutil.which("ssh-keygen") is None:
        lacking(table.error("tool", "needs ssh-keygen (Debian's openssh-client) to give your commands SSH "
                            f"access to the replica with a key of their own; {install_hint('ssh-keygen')}"))
    for key, line in commands.items():
        if line is None:
            continue
        problem = missing_program(line, cwd)
        if problem and problem.endswith(NOT_ON_PATH):
            lacking(table.error(key, f"{problem}; {install_hint(program_of(line))}"))
        elif problem:
            raise table.error(key, problem)
    return DeployCommands("commands", commands["deploy"], commands["rollback"], commands["db_rollback"], cwd,
                          timeout_s)


def _logs(table: Table | None) -> dict[str, str]:
    if table is None:
        return {}
    logs = {key: table.string(key, required=False) for key in ("access", "app")}
    table.finish()
    for key, value in logs.items():
        if value is not None and not value.startswith("/"):
            raise table.error(key, f"must be an absolute path on the web host, got {value!r}")
    return {key: value for key, value in logs.items() if value is not None}


def _migrations(table: Table | None) -> Migrations:
    if table is None:
        return Migrations()
    found = Migrations(files=table.string("files", required=False),
                       applied_sql=table.string("applied_sql", required=False),
                       id_pattern=table.string("id_pattern", required=False) or Migrations.id_pattern)
    try:
        groups = re.compile(found.id_pattern).groups
    except re.error as exc:
        raise table.error("id_pattern", f"is not a regular expression: {exc}") from None
    if groups < 1:
        raise table.error("id_pattern", "needs a group, (…), around the migration's id")
    table.finish()
    if found.files is not None and (found.files.startswith("/") or ".." in found.files.split("/")):
        raise table.error("files", f"must be a pattern of paths inside a release, got {found.files!r}")
    return found


def _flags(table: Table | None) -> FlagStore | None:
    if table is None:
        return None
    store = FlagStore(sql=table.string("sql", required=False), command=table.string("command", required=False))
    table.finish()
    if (store.sql is None) == (store.command is None):
        raise table.error("sql", "or flags.command: set exactly one, the way your flags are flipped")
    key = "sql" if store.sql is not None else "command"
    for placeholder in ("{flag}", "{percent}"):
        if placeholder not in str(store.sql or store.command):
            raise table.error(key, f"must contain {placeholder}")
    return store


# Shell builtins and keywords a command line may start with: the shell itself runs them.
SHELL_WORDS = frozenset(
    "! { . : [ alias break case cd command continue echo eval exec exit export false for if printf pwd read "
    "return set shift source test times trap true type ulimit umask unset until wait while".split()
)


NOT_ON_PATH = "is not installed (not found on PATH)"


def program_of(line: str) -> str:
    """The program a command line runs: its first word after `NAME=value` assignments."""
    try:
        words = shlex.split(line)
    except ValueError:
        return ""
    while words and "=" in words[0] and words[0].split("=", 1)[0].isidentifier():
        words = words[1:]
    return words[0] if words else ""


def missing_program(line: str, cwd: Path) -> str | None:
    """Why a command line cannot start here (its program is not installed), else None.

    The program is the first word after any leading `NAME=value` assignments: found on
    PATH, or relative to `cwd` when it holds a slash. Shell builtins and keywords, and a
    program named by a variable or in a subshell, are left to the shell.
    """
    try:
        shlex.split(line)
    except ValueError as exc:
        return f"is not a valid command line: {exc}"
    program = program_of(line)
    if not program:
        return "names no command"
    if program in SHELL_WORDS or program[0] in "($`" or "$" in program or "{" in program:
        return None
    if "/" in program:
        path = (cwd / program).expanduser()
        return None if is_file(path) and path.stat().st_mode & 0o111 else \
            f"{program!r} is not an executable file (relative to {cwd})"
    if shutil.which(program) is None:
        return f"{program!r} {NOT_ON_PATH}"
    return None


def load_target(path: Path, tools_required: bool = True) -> Target:
    """The target in `path`. Raises InputError naming the file and key; with
    `tools_required=False`, a deploy tool that is not installed is only recorded in
    `missing_tools`."""
    source = str(path)
    top = Table(source, _read_with_extends(path))
    root = path.parent.resolve()
    name = top.string("name", pattern=NAME)
    description = top.string("description", required=False) or ""
    env_table = top.optional_table("environment")
    existing, named = _environment(env_table) if env_table is not None else (None, ())
    replica = existing is None
    database = top.string("database", pattern=NAME, required=replica) or ""
    first_release = top.string("first_release", pattern=NAME)
    build = Build()
    release_source: ReleaseSource = NamedReleases(named)
    if replica or top.has("build"):
        build_table = top.table("build")
        release_source = _source(build_table, source, root)
        build = Build(packages=build_table.strings("packages"), fetch=build_table.strings("fetch"),
                      commands=build_table.strings("commands"))
        build_table.finish()
        if named:
            raise InputError(source, "environment.releases", "and [build] are two sources of releases; keep one")
    elif not named:
        raise InputError(source, "environment.releases", "is required without [build]: the names of the releases "
                         "your deploy command can put live")
    run = top.table("run")
    commands = RunCommands(
        web=run.string("web", required=replica) or "",
        worker=run.string("worker", required=False),
        health_path=str(run.string("health_path")),
        gate_path=str(run.string("gate_path", required=False) or run.data.get("health_path", "")),
        version_path=run.string("version_path", required=False),
        release_header=run.string("release_header", required=False),
        migrate=run.string("migrate", required=replica) or "",
        down_migrate=run.string("down_migrate", required=False),
        error_switch=run.string("error_switch", required=False),
        graceful_timeout_s=run.number("graceful_timeout_s", None, positive=True, maximum=3600),
        process_manager=run.choice("process_manager", PROCESS_MANAGERS, "supervisord"),
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
    deploy_table = top.optional_table("deploy")
    if existing is not None and deploy_table is None:
        raise InputError(source, "deploy", "is required with [environment]: the deploy and rollback commands are "
                         "gameday's only way to change an existing environment")
    missing: list[InputError] = []
    deploy = _deploy(deploy_table, root, ssh=replica, missing=None if tools_required else missing)
    flags = _flags(top.optional_table("flags"))
    logs = _logs(top.optional_table("logs"))
    migrations = _migrations(top.optional_table("migrations"))
    secrets = top.strings("secrets")
    bad = [name for name in secrets if not ENV_NAME.match(name)]
    if bad:
        raise InputError(source, "secrets", f"{bad[0]!r} is not an environment variable's name")
    top.finish()
    if existing is not None:
        _check_existing(source, existing, deploy, commands, queue, flags, logs, migrations)
    if deploy.tool == "commands" and build.commands:
        raise InputError(source, "build.commands", "are run by the built-in deploy tool; with your own deploy "
                         "commands, build in them (the build cache is at $GAMEDAY_BUILD_CACHE on the host)")
    paths = {"run.health_path": commands.health_path, "run.gate_path": commands.gate_path,
             "run.version_path": commands.version_path}
    for key, value in paths.items():
        if value is not None and not value.startswith("/"):
            raise InputError(source, key, f"must be a URL path starting with '/', got {value!r}")
    for key in ("{release}", "{socket}") if replica else ():
        if key not in commands.web:
            raise InputError(source, "run.web", f"must contain {key} so the deploy tool can run any release")
    assert name and first_release
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
        flags=flags,
        logs=logs,
        migrations=migrations,
        environment=existing,
        secrets=secrets,
        missing_tools=tuple(str(error) for error in missing),
    )
    if locustfile_value is not None:
        locustfile = (root / locustfile_value).resolve()
        if not is_file(locustfile):
            raise InputError(source, "locustfile", f"{locustfile_value!r} is not a file next to the target file")
        target = dataclasses.replace(target, locustfile=locustfile)
    if first_release not in target.releases:
        raise InputError(source, "first_release", f"{first_release!r} is not one of {', '.join(target.releases)}")
    return target


def find_target(name_or_path: str, tools_required: bool = True) -> Target:
    """A bundled target by name (`shop`) or a target.toml path (or its directory)."""
    return load_target(_target_path(name_or_path), tools_required)
