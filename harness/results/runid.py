"""Run ids: `20261128T101500Z-bad-migration`, sortable, and readable in `docker ps`.

A run id names a replica's Docker resources, its directory in reports/ and in gameday's
state directory, so it is checked against `RUN_ID` wherever one is read (the command
line, a label, a directory name): it can never be a path, and `..` is not one.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from harness.errors import InputError

# The stamp, then a slug of lower-case letters, digits and dashes (never at either end).
# It matches every id gameday has written: `…Z-bad-migration`, a second run's `…Z-clean-deploy-2`,
# `gameday up`'s `…Z-up` and the nightly pool's `…Z-pool-shop-4242-1`.
RUN_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[a-z0-9](?:[a-z0-9-]{0,100}[a-z0-9])?$")
SLUG_MAX = 80


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:SLUG_MAX].strip("-") or "run"


def new_run_id(scenario: str, now: datetime) -> str:
    """`<UTC stamp>-<slug of scenario>`; unique only once claimed (`harness.environment.state`)."""
    return f"{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{slug(scenario)}"


def is_run_id(text: object) -> bool:
    return isinstance(text, str) and RUN_ID.match(text) is not None


def check_run_id(text: str, source: str = "--run") -> str:
    """`text` when it is a run id; InputError naming `source` otherwise (never echoing a
    path back as a command to run)."""
    if not is_run_id(text):
        raise InputError(source, None, f"{text[:80]!r} is not a gameday run id (such as "
                         "20261128T101500Z-bad-migration)")
    return text
