"""Writing a run's files: whole or not at all, and redacted (harness.redaction).

Each file is written beside its place and renamed over it, so a reader (a later `gameday
report`, a CI job) sees the old file or the new one, never half of one; a write that fails
(a full disk, a read-only directory) leaves the old file as it was and no `.tmp` behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from harness.redaction import redact, redact_text


def write_text(path: Path, text: str) -> Path:
    """`text`, redacted, written beside `path` and renamed over it. Raises OSError."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(redact_text(text), encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """`data` as indented JSON (no NaN or Infinity: they are not JSON), redacted. Raises
    OSError, or ValueError for a value JSON cannot hold."""
    return write_text(path, json.dumps(redact(data), indent=2, allow_nan=False) + "\n")
