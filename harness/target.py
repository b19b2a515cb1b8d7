"""Targets: what an app is, how its releases are built and how it runs, from target.toml.

Validated once here into frozen values; every error names the file and the key.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import InputError

TARGETS_DIR = Path(__file__).parent / "targets"
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class RunCommands:
    web: str
    worker: str
    health_path: str
    gate_path: str
    version_path: str
    migrate: str
    down_migrate: str | None


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

    @property
    def releases(self) -> tuple[str, ...]:
        return tuple(sorted(p.name for p in self.releases_dir.iterdir() if p.is_dir()))


class _Table:
    """Typed, key-checked access to one TOML table; every error names file and key."""

    def __init__(self, source: str, data: dict[str, Any], prefix: str = "") -> None:
        self.source = source
        self.data = data
        self.prefix = prefix
        self.used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def _get(self, key: str, required: bool) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise InputError(self.source, self._key(key), "is required")
            return None
        return self.data[key]

    def string(self, key: str, required: bool = True, pattern: re.Pattern[str] | None = None) -> str | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise InputError(self.source, self._key(key), f"must be a non-empty string, got {value!r}")
        if pattern is not None and not pattern.match(value):
            raise InputError(self.source, self._key(key), f"{value!r} is not a valid name")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self._get(key, False)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise InputError(self.source, self._key(key), "must be a list of strings")
        return tuple(value)

    def table(self, key: str) -> _Table:
        value = self._get(key, True)
        if not isinstance(value, dict):
            raise InputError(self.source, self._key(key), "must be a table")
        return _Table(self.source, value, f"{self._key(key)}.")

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise InputError(self.source, self._key(unknown[0]), "is not a known key")


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(str(path), None, "no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(str(path), None, f"is not valid TOML: {exc}") from None


def _directory(source: str, root: Path, key: str, value: str) -> Path:
    path = (root / value).resolve()
    if not path.is_dir():
        raise InputError(source, key, f"{value!r} is not a directory next to the target file")
    return path


def load_target(path: Path) -> Target:
    source = str(path)
    top = _Table(source, read_toml(path))
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
        worker=str(run.string("worker")),
        health_path=str(run.string("health_path")),
        gate_path=str(run.string("gate_path", required=False) or run.data.get("health_path", "")),
        version_path=str(run.string("version_path")),
        migrate=str(run.string("migrate")),
        down_migrate=run.string("down_migrate", required=False),
    )
    run.finish()
    top.finish()
    paths = {"run.health_path": commands.health_path, "run.gate_path": commands.gate_path,
             "run.version_path": commands.version_path}
    for key, value in paths.items():
        if not value.startswith("/"):
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
    )
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
