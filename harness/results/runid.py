"""Run ids: `20261128T101500Z-bad-migration`, sortable, and readable in `docker ps`."""

from __future__ import annotations

import re
from datetime import UTC, datetime


def new_run_id(scenario: str, now: datetime) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", scenario.lower()).strip("-") or "run"
    return f"{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{slug}"
