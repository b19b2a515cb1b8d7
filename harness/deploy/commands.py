"""The team's own deploy tool as a deployer: their deploy, rollback and db rollback command
lines (Capistrano, Fabric, a shell script over SSH), run on this machine as they would type
them, against the web host over SSH.

Each command gets `{release}` (the release name) and the environment of
`harness.environment.Access` (SSH host, port, user, key, known_hosts, ssh_config, deploy
path, a git URL the host can clone). What is live is read from the host itself
(`readlink current`, the release directories and their REVISION files), never from the
tool's output, so any tool that keeps the release-directory layout can be timed.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from harness.config.target import DeployCommands, RunCommands
from harness.deploy import Release, Releases, release_dir_of
from harness.environment import Access, CommandResult, Environment
from harness.environment.existing import served_release
from harness.environment.local import LocalCommand
from harness.errors import HarnessError, StagingError
from harness.results.deploylog import DeployStep

# One line per release directory: `<dir> <revision or -> <bad or ->`, then the tags of the
# published repository (`<sha> refs/tags/<name>`), then `current <dir>`.
LIST_SCRIPT = """
cd "$1" 2>/dev/null || exit 0
for dir in releases/*/; do
  [ -d "$dir" ] || continue
  name=${dir#releases/}; name=${name%/}
  rev=$(head -n 1 "$dir/REVISION" 2>/dev/null | tr -d ' \\t'); [ -n "$rev" ] || rev=-
  bad=-; [ -e "$dir/BAD" ] && bad=bad
  echo "release $name $rev $bad"
done
git --git-dir="$2" show-ref --tags 2>/dev/null | sed 's/^/tag /'
echo "current $(readlink current 2>/dev/null)"
"""


def parse_listing(text: str) -> Releases:
    """`Releases` from LIST_SCRIPT's output; a REVISION holding a published commit id is
    named by its tag, any other REVISION is the name itself."""
    tags: dict[str, str] = {}
    rows: list[tuple[str, str, bool]] = []
    current: str | None = None
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        fields = rest.split()
        if kind == "release" and len(fields) == 3:
            rows.append((fields[0], fields[1], fields[2] == "bad"))
        elif kind == "tag" and len(fields) == 2:
            tags[fields[0]] = fields[1].removeprefix("refs/tags/")
        elif kind == "current":
            current = release_dir_of(rest)
    releases = tuple(
        Release(release_dir, tags.get(revision, revision if revision != "-" else "?"), release_dir == current, bad)
        for release_dir, revision, bad in sorted(rows)
    )
    return Releases(current=current, releases=releases)


class CommandsDeployer:
    """Deploy, rollback and db rollback with the team's command lines."""

    name = "commands"
    has_gate = False  # whatever the team's tool checks, gameday cannot switch it on or off

    def __init__(self, environment: Environment, commands: DeployCommands, run: RunCommands | None = None) -> None:
        assert commands.deploy and commands.rollback and commands.cwd is not None
        self.environment = environment
        self.commands = commands
        self.run = run

    def _access(self) -> Access:
        access = self.environment.access
        if access is None:
            raise HarnessError("the team's deploy commands reach the web host over SSH, and this environment "
                               "gives no SSH access (is ssh-keygen installed?)")
        return access

    def _start(self, line: str, release: str | None = None) -> LocalCommand:
        assert self.commands.cwd is not None
        # An existing environment gives no SSH access: its commands get its URL only.
        access = self.environment.access
        env = access.env() if access is not None else {"GAMEDAY_URL": self.environment.url}
        if release is not None:
            env["GAMEDAY_RELEASE"] = release
            line = line.replace("{release}", shlex.quote(release))
        return LocalCommand(line, self.commands.cwd, env, self.commands.timeout_s)

    def start_deploy(self, release: str, *, gate: bool, killed_after: str | None = None) -> LocalCommand:
        """The team's deploy command; `gate` does not apply (their tool has a gate or not),
        nor does `killed_after` (the scenario refuses it at load)."""
        if killed_after is not None:
            raise ValueError("killed_after names a step of the built-in deploy tool")
        assert self.commands.deploy is not None
        return self._start(self.commands.deploy, release)

    def rollback(self, *, db: bool = False) -> CommandResult:
        assert self.commands.rollback is not None
        result = self._start(self.commands.rollback).wait()
        if not db or not result.ok:
            return result
        schema = self.db_rollback()
        return CommandResult(result.argv + schema.argv, schema.exit_status, result.stdout + schema.stdout,
                             result.stderr + schema.stderr)

    def db_rollback(self) -> CommandResult:
        if self.commands.db_rollback is None:
            return CommandResult(("(no deploy.db_rollback)",), 127, "",
                                 "the target has no deploy.db_rollback command, so the schema stays as it is")
        return self._start(self.commands.db_rollback).wait()

    def releases(self) -> Releases:
        if self.environment.access is None:
            live = self.current()
            return Releases(live, () if live is None else (Release(live, live, current=True),))
        access = self._access()
        listed = self.environment.exec(["sh", "-c", LIST_SCRIPT, "list", access.deploy_to, access.repo_url])
        if not listed.ok:
            raise StagingError(f"could not list the releases in {access.deploy_to}: {listed.last_line()}")
        return parse_listing(listed.stdout)

    def current(self) -> str | None:
        """`readlink current` on the host; on an existing environment (no host access), the
        release the app itself says is live (its version path or release header)."""
        if self.environment.access is None and self.run is not None:
            return served_release(self.environment.url, self.run.version_path, self.run.release_header,
                                  self.run.health_path)
        result = self.environment.exec(["readlink", f"{self._access().deploy_to}/current"])
        return release_dir_of(result.stdout) if result.ok else None

    def steps(self) -> Sequence[DeployStep]:
        return ()  # the team's tool keeps no log gameday reads; times come from the rehearsal

    def command_line(self, action: str) -> str:
        """The team's own command line for `action` (`deploy RELEASE` among them), as it
        goes in `recovery.actions`."""
        verb, _, release = action.partition(" ")
        if verb == "deploy" and release and self.commands.deploy:
            return self.commands.deploy.replace("{release}", shlex.quote(release))
        lines = {
            "rollback": self.commands.rollback,
            "rollback --db": " && ".join(c for c in (self.commands.rollback, self.commands.db_rollback) if c),
            "db rollback": self.commands.db_rollback or "(no deploy.db_rollback command)",
        }
        return lines.get(action) or action
