"""The built-in deploy tool as a deployer: `deploy …` run in the web host through the
environment seam. The tool itself is `harness/webhost/deploytool.py`."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence

from harness.deploy import Release, Releases
from harness.environment import CommandResult, Environment
from harness.errors import HarnessError, StagingError
from harness.results.deploylog import DeployStep, parse_deploy_log

DEPLOY_LOG = "/srv/app/shared/log/deploy.jsonl"
CURRENT = "/srv/app/current"
PID_FILE = "/run/app/deploy.pid"
STOP_WAIT_S = 20.0


class BuiltinDeploy:
    """A deploy running in the web host; it writes its pid so it can be interrupted."""

    def __init__(self, environment: Environment, args: Sequence[str]) -> None:
        self.environment = environment
        self.argv = ("deploy", *args)
        self._result: CommandResult | None = None
        self._error: HarnessError | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deploy", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        script = f'echo $$ > {PID_FILE}; exec "$@"'
        try:
            result = self.environment.exec(["sh", "-c", script, "deploy", *self.argv])
            self._result = CommandResult(self.argv, result.exit_status, result.stdout, result.stderr)
        except HarnessError as exc:
            self._error = exc
        except Exception as exc:  # a crash in the thread must reach the rehearsal, not vanish
            self._error = HarnessError(f"the deploy could not run: {type(exc).__name__}: {exc}")
        finally:
            self._done.set()

    def poll(self) -> CommandResult | None:
        if not self._done.is_set():
            return None
        if self._error is not None:
            raise self._error
        return self._result

    def stop(self) -> str:
        if self._done.is_set():
            return "the deploy had already ended"
        started = time.monotonic()
        script = f'pid=$(cat {PID_FILE} 2>/dev/null) && kill -TERM "$pid" && echo "$pid"'
        sent = self.environment.exec(["sh", "-c", script])
        if not sent.ok:
            self._done.wait(STOP_WAIT_S)
            return "the deploy ended before it could be interrupted"
        self._done.wait(STOP_WAIT_S)
        waited = time.monotonic() - started
        if not self._done.is_set():
            return f"sent SIGTERM to the running deploy (pid {sent.stdout.strip()}); still running after {waited:.1f}s"
        status = self._result.exit_status if self._result is not None else None
        return (f"sent SIGTERM to the running deploy (pid {sent.stdout.strip()}); it exited {status} "
                f"after {waited:.2f}s")


class BuiltinDeployer:
    """Deploy, rollback and releases with the deploy tool baked into the web host."""

    name = "builtin"

    def __init__(self, environment: Environment) -> None:
        self.environment = environment

    def start_deploy(self, release: str, *, gate: bool) -> BuiltinDeploy:
        return BuiltinDeploy(self.environment, ["deploy", release] + ([] if gate else ["--no-gate"]))

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
        return result.stdout.strip().rsplit("/", 1)[-1] or None if result.ok else None

    def steps(self) -> list[DeployStep]:
        return parse_deploy_log(self.environment.read_file(DEPLOY_LOG))

    def command_line(self, action: str) -> str:
        """The tool's own words, as `gameday rollback …` takes them: `rollback`, `rollback --db`,
        `rollback --db-only`."""
        return {"db rollback": "rollback --db-only"}.get(action, action)
