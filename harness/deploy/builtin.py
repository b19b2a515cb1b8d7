"""The built-in deploy tool as a deployer: `deploy …` run in the web host through the
environment seam. The tool itself is `harness/webhost/deploytool.py`."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Sequence

from harness.deploy import Release, Releases, release_dir_of
from harness.environment import CommandResult, Environment
from harness.environment.background import Background
from harness.errors import StagingError
from harness.results.deploylog import DeployStep, parse_deploy_log

DEPLOY_LOG = "/srv/app/shared/log/deploy.jsonl"
CURRENT = "/srv/app/current"
PID_FILE = "/run/app/deploy.pid"
STOP_WAIT_S = 20.0
# Read by the deploy tool: the step after which it kills itself with SIGKILL (a fault).
KILL_AFTER_ENV = "GAMEDAY_KILL_AFTER_STEP"


class BuiltinDeploy:
    """A deploy running in the web host; it writes its pid so it can be interrupted."""

    def __init__(self, environment: Environment, args: Sequence[str], killed_after: str | None = None) -> None:
        self.environment = environment
        self.argv = ("deploy", *args)
        self.killed_after = killed_after
        self._running = Background("the deploy", self._run)

    def _run(self) -> CommandResult:
        script = f'echo $$ > {PID_FILE}; exec "$@"'
        if self.killed_after is not None:
            script = f'echo $$ > {PID_FILE}; {KILL_AFTER_ENV}={shlex.quote(self.killed_after)} exec "$@"'
        result = self.environment.exec(["sh", "-c", script, "deploy", *self.argv])
        return CommandResult(self.argv, result.exit_status, result.stdout, result.stderr)

    def poll(self) -> CommandResult | None:
        return self._running.poll()

    def stop(self) -> str:
        if self._running.done:
            return "the deploy had already ended"
        started = time.monotonic()
        script = f'pid=$(cat {PID_FILE} 2>/dev/null) && kill -TERM "$pid" && echo "$pid"'
        sent = self.environment.exec(["sh", "-c", script])
        if not sent.ok:
            self._running.wait(STOP_WAIT_S)
            return "the deploy ended before it could be interrupted"
        self._running.wait(STOP_WAIT_S)
        waited = time.monotonic() - started
        if not self._running.done:
            return f"sent SIGTERM to the running deploy (pid {sent.stdout.strip()}); still running after {waited:.1f}s"
        result = self._running.poll()
        status = result.exit_status if result is not None else None
        return (f"sent SIGTERM to the running deploy (pid {sent.stdout.strip()}); it exited {status} "
                f"after {waited:.2f}s")


class BuiltinDeployer:
    """Deploy, rollback and releases with the deploy tool baked into the web host."""

    name = "builtin"
    has_gate = True

    def __init__(self, environment: Environment) -> None:
        self.environment = environment

    def start_deploy(self, release: str, *, gate: bool, killed_after: str | None = None) -> BuiltinDeploy:
        return BuiltinDeploy(self.environment, ["deploy", release] + ([] if gate else ["--no-gate"]), killed_after)

    def _run(self, *args: str) -> CommandResult:
        result = self.environment.exec(["deploy", *args])
        return CommandResult(("deploy", *args), result.exit_status, result.stdout, result.stderr)

    def rollback(self, *, db: bool = False) -> CommandResult:
        return self._run("rollback", *(["--db"] if db else []))

    def db_rollback(self) -> CommandResult:
        return self._run("rollback", "--db-only")

    def releases(self) -> Releases:
        result = self._run("releases", "--json")
        if not result.ok:
            raise StagingError(f"the deploy tool could not list releases: {result.last_line()}",
                               command=result.argv, exit_status=result.exit_status)
        data = json.loads(result.stdout)
        return Releases(
            current=data.get("current"),
            releases=tuple(Release(r["release"], r["name"], bool(r.get("current")), bool(r.get("bad")))
                           for r in data.get("releases", [])),
        )

    def current(self) -> str | None:
        result = self.environment.exec(["readlink", CURRENT])
        return release_dir_of(result.stdout) if result.ok else None

    def steps(self) -> list[DeployStep]:
        return parse_deploy_log(self.environment.read_file(DEPLOY_LOG))

    def command_line(self, action: str) -> str:
        """The tool's own words, as `gameday rollback …` takes them: `rollback`, `rollback --db`,
        `rollback --db-only`."""
        return {"db rollback": "rollback --db-only"}.get(action, action)
