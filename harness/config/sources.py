"""Where a target's releases come from: a directory of overlays, or a git repository.

A source names its releases (in deploy order) and gives each one's files as
`{relative path: bytes}`. Both kinds are read on the user's machine; the image bakes the
files in, and the web host publishes them again as a git repository (one tag per release)
for deploy tools that clone.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harness.errors import InputError

Files = dict[str, bytes]
GIT_TIMEOUT_S = 300.0


def user_dir(override: str, xdg: str, fallback: str) -> Path:
    """gameday's directory of one kind on this machine: `$override` if set, else
    `$xdg/gameday`, else `~/fallback/gameday` (the XDG base directory convention)."""
    explicit = os.environ.get(override)
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(xdg) or Path.home() / fallback) / "gameday"


def cache_root() -> Path:
    """gameday's cache: `$GAMEDAY_CACHE_DIR`, else `$XDG_CACHE_HOME/gameday` (default
    `~/.cache/gameday`). Holds git mirrors and build caches; safe to delete."""
    return user_dir("GAMEDAY_CACHE_DIR", "XDG_CACHE_HOME", ".cache")


def digest(files: Files, *extra: str) -> str:
    """A short hash of a file tree (names and contents) and any `extra` strings: what the
    image tags and the build cache's stamps are keyed by."""
    hashed = hashlib.sha256()
    for name in sorted(files):
        hashed.update(name.encode() + b"\0" + files[name] + b"\0")
    for text in extra:
        hashed.update(text.encode() + b"\0")
    return hashed.hexdigest()[:12]


class ReleaseSource(Protocol):
    """A target's releases: their names in deploy order, and each one's files."""

    def names(self) -> tuple[str, ...]: ...

    def files(self, release: str) -> Files: ...


@dataclass(frozen=True)
class NamedReleases:
    """Releases known only by name: an existing environment's (a staging VM, a platform
    app), whose deploy commands know where each one comes from. They have no files here."""

    releases: tuple[str, ...]

    def names(self) -> tuple[str, ...]:
        return self.releases

    def files(self, release: str) -> Files:
        return {}


def read_tree(root: Path) -> Files:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


# A release directory holding this file builds on the release it names: its files go
# over that release's, as a commit goes over its parent.
BASE_FILE = "BASE"
MAX_BASES = 20


@dataclass(frozen=True)
class OverlaySource:
    """`common` holds the files of every release; `releases/<name>/` the ones a release adds
    or replaces, over those of the release its `BASE` file names, if any. Releases deploy
    in name order."""

    common: Path
    releases_dir: Path

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(p.name for p in self.releases_dir.iterdir() if p.is_dir()))

    def chain(self, release: str) -> list[str]:
        """`release` and the releases it builds on, its oldest base first. Raises
        ValueError for a base that is not a release, or a loop."""
        found = [release]
        while (base_file := self.releases_dir / found[0] / BASE_FILE).is_file():
            try:
                base = base_file.read_text(encoding="utf-8").strip()
            except UnicodeDecodeError:
                raise ValueError(f"{found[0]}/{BASE_FILE} is not text: it must hold a release's name") from None
            if base not in self.names():
                raise ValueError(f"{found[0]}/{BASE_FILE} names {base!r}, which is not a release")
            if base in found:
                raise ValueError(f"{found[0]}/{BASE_FILE} names {base!r}: releases build on each other in a loop")
            if len(found) >= MAX_BASES:
                raise ValueError(f"{release} builds on more than {MAX_BASES} releases through BASE files")
            found.insert(0, base)
        return found

    @functools.cache  # noqa: B019 (sources live as long as their target)
    def files(self, release: str) -> Files:
        merged = read_tree(self.common)
        for name in self.chain(release):
            layer = read_tree(self.releases_dir / name)
            layer.pop(BASE_FILE, None)  # the release's own marker, not one of its files
            merged.update(layer)
        return merged


def _git(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """git, run here; a git that is missing, cannot start in `cwd` or hangs is `InputError`."""
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=GIT_TIMEOUT_S, check=False)
    except FileNotFoundError as exc:
        if cwd is not None and not cwd.is_dir():
            raise InputError(str(cwd), None, "is not a directory, so not a git repository") from None
        raise InputError("git", None, f"is not installed; a target with build.git needs it ({exc})") from None
    except NotADirectoryError:
        raise InputError(str(cwd), None, "is not a directory, so not a git repository") from None
    except subprocess.TimeoutExpired:
        raise InputError("git", None, f"`git {' '.join(args)}` ran over {GIT_TIMEOUT_S:g}s") from None


def _text(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stdout.decode(errors="replace").strip()


@dataclass(frozen=True)
class GitSource:
    """Releases are refs (tags, branches or commits) of a git repository, deployed in the
    order listed. `repository` is a local path or any URL git can clone; a remote one is
    mirrored into gameday's cache."""

    repository: str
    refs: tuple[str, ...]
    local: Path  # the repository, or its mirror in the cache

    def names(self) -> tuple[str, ...]:
        return self.refs

    @functools.cache  # noqa: B019 (sources live as long as their target)
    def files(self, release: str) -> Files:
        archive = _git(["archive", "--format=tar", f"{release}^{{commit}}"], cwd=self.local)
        if archive.returncode != 0:
            raise InputError(self.repository, release, archive.stderr.decode(errors="replace").strip())
        found: Files = {}
        try:
            with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
                for member in tar.getmembers():
                    handle = tar.extractfile(member) if member.isfile() else None
                    if handle is not None:
                        found[member.name] = handle.read()
        except tarfile.TarError as exc:
            raise InputError(self.repository, release, f"git archive gave no readable tree: {exc}") from None
        return found


def open_git(source: str, key: str, repository: str, root: Path, refs: tuple[str, ...]) -> GitSource:
    """The repository checked for every ref; raises `InputError` naming the first one missing."""
    path = root / Path(repository).expanduser()
    if path.exists():
        local = path.resolve()
        if not local.is_dir() or _git(["rev-parse", "--git-dir"], cwd=local).returncode != 0:
            raise InputError(source, key, f"{repository!r} is not a git repository")
        bare = _text(_git(["rev-parse", "--is-bare-repository"], cwd=local)) == "true"
        top = local if bare else Path(_text(_git(["rev-parse", "--show-toplevel"], cwd=local)) or "/").resolve()
        if top != local:
            raise InputError(source, key, f"{repository!r} is inside the repository {top}; name its top directory")
    else:
        local = cache_root() / "git" / hashlib.sha256(repository.encode()).hexdigest()[:16]
        if local.exists():
            fetched = _git(["fetch", "--quiet", "--prune", "--tags", "origin"], cwd=local)
        else:
            local.parent.mkdir(parents=True, exist_ok=True)
            fetched = _git(["clone", "--quiet", "--mirror", repository, str(local)])
        if fetched.returncode != 0:
            last = fetched.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["failed"]
            raise InputError(source, key, f"cannot clone {repository!r}: {last[0]}")
    for ref in refs:
        if _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=local).returncode != 0:
            raise InputError(source, "build.refs", f"{ref!r} is not a tag, branch or commit of {repository}")
    return GitSource(repository, refs, local)
