"""The base image: used as it is when local, else pulled, else bootstrapped with mmdebstrap
from the Debian mirror the host's apt is configured with."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from harness.errors import BaseImageError

# Where apt's configuration lives; tests point it at an empty directory.
APT_DIR_ENV = "GAMEDAY_APT_DIR"
OS_RELEASE = Path("/etc/os-release")
DEBIAN_IMAGE = re.compile(r"^(?:docker\.io/)?(?:library/)?debian:(?P<suite>[a-z]+)(?P<slim>-slim)?$")
BASE_LABEL = "gameday.image"


@dataclass(frozen=True)
class AptSource:
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]


def parse_sources_list(text: str) -> list[AptSource]:
    """One-line `deb URI SUITE COMPONENT…` entries; deb-src and comments are skipped."""
    found = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        words = re.sub(r"\[[^\]]*\]", " ", line).split()
        if len(words) >= 3:
            found.append(AptSource(words[1], (words[2],), tuple(words[3:])))
    return found


def parse_deb822(text: str) -> list[AptSource]:
    """deb822 `.sources` stanzas with Types including `deb` and not disabled."""
    found = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for raw in stanza.splitlines():
            if raw.startswith("#"):
                continue
            if raw[:1] in (" ", "\t") and key:
                fields[key] += " " + raw.strip()
                continue
            key, sep, value = raw.partition(":")
            if sep:
                key = key.strip().lower()
                fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            found.append(
                AptSource(uri, tuple(fields.get("suites", "").split()), tuple(fields.get("components", "").split()))
            )
    return found


def host_codename(os_release: str) -> str | None:
    match = re.search(r"^VERSION_CODENAME=\"?([a-z]+)\"?$", os_release, re.MULTILINE)
    return match.group(1) if match else None


def mirror_lines(sources: Sequence[AptSource], host_suite: str, suite: str) -> list[str]:
    """The host's Debian entries (its own suite and its -updates/-security), moved to `suite`."""
    lines = []
    for source in sources:
        if "main" not in source.components:
            continue
        for host in source.suites:
            if host != host_suite and not host.startswith(host_suite + "-"):
                continue
            wanted = suite + host[len(host_suite):]
            line = f"deb {source.uri} {wanted} main"
            if line not in lines:
                lines.append(line)
    return lines


def read_host_mirror(suite: str, apt_dir: Path | None = None) -> list[str]:
    apt_dir = apt_dir or Path(os.environ.get(APT_DIR_ENV, "/etc/apt"))
    sources_list, sources_dir = apt_dir / "sources.list", apt_dir / "sources.list.d"
    texts: list[AptSource] = []
    if sources_list.exists():
        texts += parse_sources_list(sources_list.read_text())
    if sources_dir.is_dir():
        for path in sorted(sources_dir.iterdir()):
            if path.suffix == ".list":
                texts += parse_sources_list(path.read_text())
            elif path.suffix == ".sources":
                texts += parse_deb822(path.read_text())
    codename = host_codename(OS_RELEASE.read_text()) if OS_RELEASE.exists() else None
    if codename is None:
        raise BaseImageError(f"cannot tell this host's Debian suite from {OS_RELEASE}; no mirror to bootstrap from")
    lines = mirror_lines(texts, codename, suite)
    if not lines:
        raise BaseImageError(
            f"no Debian mirror for {codename} with 'main' in {sources_list} or {sources_dir}/; "
            "cannot bootstrap the base image"
        )
    return lines


def mmdebstrap_argv(suite: str, mirrors: Sequence[str], output: Path) -> list[str]:
    """A minbase Debian root like the -slim images: no docs, man pages or locales."""
    excludes = [
        "path-exclude=/usr/share/doc/*",
        "path-include=/usr/share/doc/*/copyright",
        "path-exclude=/usr/share/man/*",
        "path-exclude=/usr/share/locale/*",
        "path-include=/usr/share/locale/locale.alias",
    ]
    argv = ["mmdebstrap", "--variant=minbase", "--mode=root", "--quiet", "--format=tar"]
    argv += [f"--dpkgopt={opt}" for opt in excludes]
    argv += ["--aptopt=Acquire::Retries \"3\"", suite, str(output), *mirrors]
    return argv


def ensure_mmdebstrap(say: Callable[[str], None]) -> str:
    found = shutil.which("mmdebstrap")
    if found:
        return found
    if os.geteuid() != 0:
        raise BaseImageError(
            "the base image must be bootstrapped but mmdebstrap is missing; "
            "install it with: sudo apt-get install mmdebstrap"
        )
    say("mmdebstrap is missing; installing it from Debian's packages")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "mmdebstrap"]):
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
            raise BaseImageError(f"could not install mmdebstrap: {' '.join(argv)} exited {proc.returncode}: {tail}")
    found = shutil.which("mmdebstrap")
    if not found:
        raise BaseImageError("apt-get installed mmdebstrap but it is not on PATH")
    return found


def ensure_base_image(client: docker.DockerClient, name: str, say: Callable[[str], None]) -> str:
    """Make sure `name` exists locally; returns how it was obtained."""
    try:
        client.images.get(name)
        return "local"
    except docker.errors.ImageNotFound:
        pass
    repository, _, tag = name.rpartition(":") if ":" in name.split("/")[-1] else (name, "", "latest")
    try:
        client.images.pull(repository, tag=tag)
        say(f"pulled base image {name}")
        return "pulled"
    except docker.errors.APIError as exc:
        pull_error = str(exc.explanation or exc).splitlines()[0][:160]
    match = DEBIAN_IMAGE.match(name)
    if match is None:
        raise BaseImageError(
            f"base image {name} is not local and cannot be pulled ({pull_error}); "
            "only debian:<suite> images can be bootstrapped from a mirror"
        )
    suite = match.group("suite")
    mirrors = read_host_mirror(suite)
    ensure_mmdebstrap(say)
    mirror = mirrors[0].split()[1]
    say(f"base image {name} is not local and cannot be pulled; bootstrapping it with mmdebstrap from {mirror}")
    with tempfile.TemporaryDirectory(prefix="gameday-base-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        argv = mmdebstrap_argv(suite, mirrors, tarball)
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
            raise BaseImageError(f"mmdebstrap exited {proc.returncode}: {tail}")
        try:
            client.api.import_image_from_file(
                str(tarball), repository=repository, tag=tag,
                changes=[f"LABEL {BASE_LABEL}=base", 'CMD ["bash"]'],
            )
        except docker.errors.APIError as exc:
            raise BaseImageError(f"docker could not import the bootstrapped image: {exc}") from exc
    say(f"tagged the bootstrapped image as {name}")
    return "bootstrapped"
