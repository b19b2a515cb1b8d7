"""supervisord as the process manager: `supervisorctl` in the web host, read and acted on
through the environment seam. Program states are supervisord's own
(http://supervisord.org/subprocess.html#process-states)."""

from __future__ import annotations

from collections.abc import Sequence

from harness.environment import CommandResult, Environment, pid_answer


class Supervisord:
    """The process manager of the Docker replica's web host."""

    name = "supervisord"
    states_visible = True

    def __init__(self, environment: Environment) -> None:
        self.environment = environment

    def states(self) -> dict[str, str]:
        # `supervisorctl status` exits 3 when any program is not running; the listing is what counts.
        listing = self.environment.exec(["supervisorctl", "status"]).stdout
        found = {}
        for line in listing.splitlines():
            words = line.split()
            if len(words) >= 2 and words[1].isupper():
                found[words[0]] = words[1]
        return found

    def start(self, program: str) -> CommandResult:
        return self.environment.exec(["supervisorctl", "start", program])

    def reload(self, program: str) -> CommandResult:
        """A graceful reload: HUP for the app server (gunicorn re-execs its workers), restart otherwise."""
        if program == "web":
            return self.environment.exec(["supervisorctl", "signal", "HUP", program])
        return self.environment.exec(["supervisorctl", "restart", program])

    def stop(self, program: str) -> CommandResult:
        return self.environment.exec(["supervisorctl", "stop", program])

    def signal(self, program: str, signal: str) -> CommandResult:
        return self.environment.exec(["supervisorctl", "signal", signal, program])

    def main_pid(self, program: str) -> int | None:
        """`supervisorctl pid PROGRAM` prints 0 for a program that is not running."""
        answer = self.environment.exec(["supervisorctl", "pid", program])
        return pid_answer(answer, "supervisorctl pid")

    def restart_command(self, programs: Sequence[str]) -> str:
        """`supervisorctl restart` starts a FATAL program too."""
        return "supervisorctl restart " + " ".join(programs)

    def restart(self, programs: Sequence[str]) -> CommandResult:
        return self.environment.exec(["sh", "-c", self.restart_command(programs)])

    def running(self, state: str) -> bool:
        return state == "RUNNING"

    def starting(self, state: str) -> bool:
        """Started, and not yet running `startsecs`: it may still turn out to crash."""
        return state == "STARTING"

    def gave_up(self, state: str) -> bool:
        """BACKOFF (a start failed, retrying), FATAL (gave up after startretries), EXITED, STOPPED."""
        return state in ("BACKOFF", "FATAL", "EXITED", "STOPPED")

    def gave_up_for_good(self, state: str) -> bool:
        """FATAL: supervisord starts it again only when asked."""
        return state == "FATAL"

    def refused(self, detail: str) -> str | None:
        return None  # supervisord starts whatever it is asked to; a FATAL program too
