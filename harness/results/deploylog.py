"""The deploy log: one typed step per line of the built-in tool's `shared/log/deploy.jsonl`.

The tool writes `ts` (RFC 3339), `action`, `step`, `release` (the release name),
`release_dir` (the directory under `releases/`), `ok`, `duration_s` and `detail`. Logs
from before `release_dir` existed still parse; their `release_dir` is taken from
`release` when that names a timestamped directory. A deployer's step log is detail for
the report: no timing or decision depends on it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from harness.results.model import parse_ts

RELEASE_DIR = re.compile(r"^\d{8}T\d{6}Z(-\d+)?$")


@dataclass(frozen=True)
class DeployStep:
    """One step a deploy or rollback took; `ts` is when it ended (epoch seconds)."""

    ts: float
    action: str
    step: str
    release: str | None
    release_dir: str | None
    ok: bool
    duration_s: float
    detail: str

    @property
    def started(self) -> float:
        return self.ts - self.duration_s

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeployStep:
        release = data.get("release")
        release_dir = data.get("release_dir")
        if release_dir is None and isinstance(release, str) and RELEASE_DIR.match(release):
            release_dir = release  # an older log kept the directory in `release`
        if release_dir is None and data.get("step") == "release" and "releases/" in str(data.get("detail", "")):
            release_dir = str(data["detail"]).rsplit("releases/", 1)[1].strip()
        return cls(
            ts=parse_ts(str(data["ts"])),
            action=str(data.get("action") or ""),
            step=str(data["step"]),
            release=None if release is None else str(release),
            release_dir=None if release_dir is None else str(release_dir),
            ok=bool(data.get("ok")),
            duration_s=float(data.get("duration_s") or 0.0),
            detail=str(data.get("detail") or ""),
        )


def parse_deploy_log(text: str) -> list[DeployStep]:
    """The steps of a deploy log; a torn or foreign line (cut off mid-write) is skipped."""
    steps = []
    for line in text.splitlines():
        try:
            data = json.loads(line)
            steps.append(DeployStep.from_json(data))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return steps
