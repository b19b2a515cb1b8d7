"""The target's contracts, checked once its first release is live (`gameday up`, and
before a rehearsal's baseline): each one the annotated target file promises, each failure
one line naming the target file and the key to change.

- something is live: `current` names a release directory after the deploy;
- `run.health_path` answers 200;
- `run.version_path`, when set, answers JSON whose "release" names the live release (its
  directory, or its name);
- `run.release_header`, when set, is on the answers and names the live release;
- `run.worker`, when set, is running under the process manager;
- `[queue]`, when set, its queries run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import httpx

from harness.config.target import Target
from harness.deploy import Deployer
from harness.environment import Environment, ProcessManager
from harness.errors import HarnessError, InputError
from harness.rehearsal.clock import Clock
from harness.rehearsal.load import check_host
from harness.results.deploylog import DeployStep

TIMEOUT_S = 5.0
SETTLE_S = 10.0  # a just-started app server may take this long to answer
WORKER = "worker"


def worker_state(processes: ProcessManager, clock: Clock) -> str:
    """The worker's state once it is past starting (a manager may show it starting until
    the program has run a while); waited for up to SETTLE_S."""
    deadline = clock.now() + SETTLE_S
    while True:
        state = processes.states().get(WORKER, "missing")
        if not processes.starting(state) or clock.now() >= deadline:
            return state
        clock.sleep(0.2)


class ContractBroken(InputError):
    """The target does not do what its file says: exit 2, with the key to change."""


# The built-in deploy tool's step that failed a first deploy, and the target key behind it.
FAILED_STEP_KEYS = {"build": "build.commands", "migrate": "run.migrate", "gate": "run.gate_path",
                    "verify": "run.web", "reload": "run.web"}


def key_for_failed_deploy(target: Target, steps: Sequence[DeployStep]) -> str | None:
    """The target key a failed first deploy points at: the team's deploy command, or the
    key behind the built-in tool's failed step; None when neither says."""
    if target.deploy.own_commands:
        return "deploy.deploy"
    failed = next((step for step in reversed(steps) if step.action == "deploy" and not step.ok), None)
    return None if failed is None else FAILED_STEP_KEYS.get(failed.step)


def check(target: Target, environment: Environment, deployer: Deployer, processes: ProcessManager, release: str,
          *, clock: Clock, allow_remote: bool = False, transport: httpx.BaseTransport | None = None,
          settle_s: float = SETTLE_S) -> None:
    """Raise `ContractBroken` for the first contract the live `release` breaks; an answer
    of 500 or more (or none) is asked again for up to `settle_s` seconds (of `clock`)."""
    source = str(target.path or target.name)
    live = deployer.current()
    if live is None:
        raise ContractBroken(source, "deploy", f"after deploying {release}, nothing is live: `current` names no "
                             "release directory")
    if deployer.releases().name_of(live) in (None, "?"):
        raise ContractBroken(source, "deploy.deploy" if target.deploy.own_commands else None,
                             f"the live release directory {live} names no release: write the release's name "
                             "(or its commit id) to REVISION in each release directory, as release-directory "
                             "deploy tools do")
    names = {live, release}
    with httpx.Client(base_url=check_host(environment.url, allow_remote), timeout=TIMEOUT_S,
                      transport=transport) as http:
        health = get(http, target.run.health_path, settle_s, clock)
        if health.status_code != 200:
            raise ContractBroken(source, "run.health_path",
                                 f"GET {target.run.health_path} answered {health.status_code} with {release} live "
                                 f"({health.text.strip()[:80]!r}); it must answer 200 while the release is healthy")
        if target.run.version_path is not None:
            answer = get(http, target.run.version_path, settle_s, clock)
            if named(answer) not in names:
                raise ContractBroken(source, "run.version_path",
                                     f"GET {target.run.version_path} answered {answer.status_code} "
                                     f"{answer.text.strip()[:60]!r} but did not name release {release} "
                                     f"(JSON {{\"release\": \"{live}\"}} or its name); "
                                     "fix the path, or leave run.version_path out")
        if target.run.release_header is not None:
            header = health.headers.get(target.run.release_header)
            if header not in names:
                seen = "no such header" if header is None else f"{header!r}"
                raise ContractBroken(source, "run.release_header",
                                     f"GET {target.run.health_path} answered with {seen}, not release {release} "
                                     f"({live}); fix the header name, or leave run.release_header out")
    if target.run.worker is not None:
        state = worker_state(processes, clock)
        if not processes.running(state):
            raise ContractBroken(source, "run.worker", f"the worker is {state} with {release} live; "
                                 "fix the command, or leave run.worker out")
    if target.queue is not None:
        for key, query in (("queue.lag_sql", target.queue.lag_sql), ("queue.jobs_sql", target.queue.jobs_sql)):
            try:
                environment.sql(target.database, query.replace("{since}", "0"))
            except HarnessError as exc:
                raise ContractBroken(source, key, f"does not run against {target.database}: {exc}") from None


def get(http: httpx.Client, path: str, settle_s: float, clock: Clock) -> httpx.Response:
    """GET `path`, retried while the app server settles; the last answer (or a 599 stand-in)."""
    deadline = clock.now() + settle_s
    while True:
        try:
            answer = http.get(path)
            if answer.status_code < 500 or clock.now() >= deadline:
                return answer
        except httpx.HTTPError as exc:
            if clock.now() >= deadline:
                return httpx.Response(599, text=f"no answer ({type(exc).__name__})")
        clock.sleep(0.25)


def named(answer: httpx.Response) -> str | None:
    """The release a version answer names, or None."""
    if answer.status_code != 200:
        return None
    try:
        data = json.loads(answer.text)
    except ValueError:
        return None
    return str(data.get("release")) if isinstance(data, dict) and data.get("release") else None
