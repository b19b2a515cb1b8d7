"""systemd as the process manager: `systemctl` in the web host, where systemd runs as PID 1,
read and acted on through the environment seam. Unit states are systemd's own, as
`ActiveState (SubState)`, or `failed (Result: …)` (systemd.unit(5), systemctl(1))."""

from __future__ import annotations

from collections.abc import Sequence

from harness.environment import CommandResult, Environment, pid_answer

# The units gameday reads: the app's (web, worker) and the host's front door and sshd.
UNITS = ("web", "worker", "nginx", "ssh")
PROPERTIES = "Id,LoadState,ActiveState,SubState,Result"


def unit_states(listing: str) -> dict[str, str]:
    """`systemctl show UNIT… -p PROPERTIES` output (one blank-line-separated block a unit)
    as unit name (without `.service`) → state; units that are not installed are left out."""
    found = {}
    for block in listing.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if props.get("LoadState") != "loaded" or "Id" not in props:
            continue
        active, sub = props.get("ActiveState", "?"), props.get("SubState", "?")
        state = f"failed (Result: {props.get('Result', '?')})" if active == "failed" else f"{active} ({sub})"
        found[props["Id"].removesuffix(".service")] = state
    return found


# systemd's words when its start limit refuses a start.
START_LIMIT = "start request repeated too quickly"


class Systemd:
    """The process manager of a web host that boots systemd."""

    name = "systemd"
    states_visible = True

    def __init__(self, environment: Environment) -> None:
        self.environment = environment

    def states(self) -> dict[str, str]:
        listing = self.environment.exec(["systemctl", "show", *(f"{u}.service" for u in UNITS), "-p", PROPERTIES])
        return unit_states(listing.stdout)

    def start(self, program: str) -> CommandResult:
        return self.environment.exec(["systemctl", "start", f"{program}.service"])

    def reload(self, program: str) -> CommandResult:
        """A graceful reload for the app server (its unit's ExecReload, a HUP), restart otherwise."""
        verb = "reload" if program == "web" else "restart"
        return self.environment.exec(["systemctl", verb, f"{program}.service"])

    def stop(self, program: str) -> CommandResult:
        return self.environment.exec(["systemctl", "stop", f"{program}.service"])

    def signal(self, program: str, signal: str) -> CommandResult:
        return self.environment.exec(["systemctl", "kill", f"--signal=SIG{signal}", "--kill-whom=main",
                                      f"{program}.service"])

    def main_pid(self, program: str) -> int | None:
        """The unit's MainPID (0 when it runs none)."""
        answer = self.environment.exec(["systemctl", "show", "-p", "MainPID", "--value", f"{program}.service"])
        return pid_answer(answer, "systemctl show -p MainPID")

    def restart_command(self, programs: Sequence[str]) -> str:
        """`reset-failed` first: a unit that hit its start limit refuses a plain restart
        until then ("Start request repeated too quickly", systemd.unit(5))."""
        units = " ".join(f"{p}.service" for p in programs)
        # `;`, not `&&`: reset-failed exits 1 for a unit that is not failed (or not loaded),
        # and still resets the others; the restart's status is the command's.
        return f"systemctl reset-failed {units}; systemctl restart {units}"

    def restart(self, programs: Sequence[str]) -> CommandResult:
        return self.environment.exec(["sh", "-c", self.restart_command(programs)])

    def running(self, state: str) -> bool:
        return state == "active (running)"

    def starting(self, state: str) -> bool:
        return state.startswith("activating (start")

    def gave_up(self, state: str) -> bool:
        """Waiting to restart after a crash, failed (its start limit among the reasons), stopped."""
        return state.startswith(("activating (auto-restart)", "failed", "inactive"))

    def gave_up_for_good(self, state: str) -> bool:
        """failed: systemd restarts the unit no more until it is started (and reset) by hand."""
        return state.startswith("failed")

    def refused(self, detail: str) -> str | None:
        """The start limit (systemd.unit(5), StartLimitBurst=): its words, and the fix."""
        if START_LIMIT not in detail.lower():
            return None
        return ("run `systemctl reset-failed` on the app's units before the rollback's restart: after "
                "StartLimitBurst starts within StartLimitIntervalSec (5 in 10 s by default) systemd refuses "
                "every start until the unit is reset, and a crash-looping release uses them up")
