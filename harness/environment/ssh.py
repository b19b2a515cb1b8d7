"""The run's SSH key and client files: a fresh ed25519 key per replica, and a known_hosts
and ssh_config naming the web host's loopback port, so a team's commands reach it with host
keys checked. They live in the run's state directory (harness.environment.state) and go
with the replica."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.environment.state import run_directory
from harness.errors import StagingError

HOST_ALIAS = "gameday"
DEPLOY_USER = "deploy"


@dataclass(frozen=True)
class KeyFiles:
    directory: Path

    @property
    def private(self) -> Path:
        return self.directory / "id_ed25519"

    @property
    def public(self) -> Path:
        return self.directory / "id_ed25519.pub"

    @property
    def known_hosts(self) -> Path:
        return self.directory / "known_hosts"

    @property
    def config(self) -> Path:
        return self.directory / "ssh_config"

    @property
    def all(self) -> tuple[Path, ...]:
        return (self.private, self.public, self.known_hosts, self.config)


def files_of(run_id: str) -> KeyFiles:
    return KeyFiles(run_directory(run_id))


def generate(run_id: str) -> KeyFiles | None:
    """A new key pair for the run, or None when ssh-keygen is not installed."""
    if shutil.which("ssh-keygen") is None:
        return None
    keys = files_of(run_id)
    keys.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    keys.private.unlink(missing_ok=True)
    keys.public.unlink(missing_ok=True)
    made = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"gameday-{run_id}",
                           "-f", str(keys.private)], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        raise StagingError(f"ssh-keygen could not make the run's key: {made.stderr.strip()}")
    return keys


def write_client_files(keys: KeyFiles, port: int, host_key: str) -> None:
    """known_hosts with the web host's key at 127.0.0.1:PORT, and an ssh_config for it."""
    keys.known_hosts.write_text(f"[127.0.0.1]:{port} {host_key.strip()}\n")
    keys.config.write_text(
        f"Host {HOST_ALIAS}\n"
        f"  HostName 127.0.0.1\n  Port {port}\n  User {DEPLOY_USER}\n"
        f'  IdentityFile "{keys.private}"\n  IdentitiesOnly yes\n'
        f'  UserKnownHostsFile "{keys.known_hosts}"\n  StrictHostKeyChecking yes\n'
        f"  BatchMode yes\n  ConnectTimeout 10\n"
    )


def remove(run_id: str) -> None:
    """The run's key and client files; the run's state directory stays its owner's."""
    for path in files_of(run_id).all:
        path.unlink(missing_ok=True)
