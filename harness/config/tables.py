"""Typed, key-checked reading of TOML tables: every error names the file and the key."""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, overload

from harness.errors import InputError

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
# No number in a gameday file is larger: above it, a float loses whole numbers.
MAX_NUMBER = 2**53


def shown(value: object) -> str:
    """A value as an error message shows it: its repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(str(path), None, "no such file") from None
    except IsADirectoryError:
        raise InputError(str(path), None, "is a directory, not a TOML file") from None
    except UnicodeDecodeError as exc:
        raise InputError(str(path), None, f"is not UTF-8 text: {exc.reason}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(str(path), None, f"is not valid TOML: {exc}") from None
    except RecursionError:
        raise InputError(str(path), None, "nests arrays or tables too deeply to be a gameday file") from None
    except OSError as exc:
        raise InputError(str(path), None, f"cannot be read ({exc.strerror or exc})") from None
    except ValueError as exc:  # a path with a NUL byte
        raise InputError(repr(str(path)), None, f"is not a file name ({exc})") from None


def is_file(path: Path) -> bool:
    """`path.is_file()`, False for a name no file can have (too long, a NUL byte)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def is_dir(path: Path) -> bool:
    """`path.is_dir()`, False for a name no directory can have."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


class Table:
    """One TOML table. Read every key through it, then call `finish` to reject the rest."""

    def __init__(self, source: str, data: dict[str, Any], prefix: str = "") -> None:
        self.source = source
        self.data = data
        self.prefix = prefix
        self.used: set[str] = set()

    def key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def error(self, key: str, problem: str) -> InputError:
        return InputError(self.source, self.key(key), problem)

    def _get(self, key: str, required: bool) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise self.error(key, "is required")
            return None
        return self.data[key]

    def has(self, key: str) -> bool:
        return key in self.data

    def string(self, key: str, required: bool = True, pattern: re.Pattern[str] | None = None) -> str | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"must be a non-empty string, got {shown(value)}")
        if "\0" in value:
            raise self.error(key, "must not contain a NUL byte")
        if pattern is not None and not pattern.match(value):
            raise self.error(key, f"{value!r} is not a valid name")
        return value

    @overload
    def choice(self, key: str, options: Sequence[str], default: str) -> str: ...
    @overload
    def choice(self, key: str, options: Sequence[str], default: None) -> str | None: ...

    def choice(self, key: str, options: Sequence[str], default: str | None) -> str | None:
        """The key's value, one of `options`; `default` when it is absent."""
        value = self._get(key, False)
        if value is None:
            return default
        if value not in options:
            raise self.error(key, f"must be one of {', '.join(options)}, got {shown(value)}")
        return str(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {shown(value)}")
        return value

    def number(
        self,
        key: str,
        default: float | None = None,
        *,
        required: bool = False,
        minimum: float | None = None,
        maximum: float | None = None,
        positive: bool = False,
        integer: bool = False,
    ) -> float | None:
        value = self._get(key, required)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(key, f"must be a number, got {shown(value)}")
        if isinstance(value, int) and abs(value) > MAX_NUMBER:
            raise self.error(key, f"is out of range: {shown(value)}")
        if not math.isfinite(value):
            raise self.error(key, f"must be a finite number, got {shown(value)}")
        if integer and not float(value).is_integer():
            raise self.error(key, f"must be a whole number, got {shown(value)}")
        if positive and value <= 0:
            raise self.error(key, f"must be greater than 0, got {shown(value)}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum:g}, got {shown(value)}")
        if maximum is not None and value > maximum:
            raise self.error(key, f"must be at most {maximum:g}, got {shown(value)}")
        return float(value)

    def strings(self, key: str) -> tuple[str, ...]:
        value = self._get(key, False)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(key, "must be a list of strings")
        if any("\0" in v for v in value):
            raise self.error(key, "must not contain a NUL byte")
        return tuple(value)

    def table(self, key: str) -> Table:
        found = self.optional_table(key)
        if found is None:
            raise self.error(key, "is required")
        return found

    def optional_table(self, key: str) -> Table | None:
        value = self._get(key, False)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(key, "must be a table")
        return Table(self.source, value, f"{self.key(key)}.")

    def tables(self, key: str) -> list[Table]:
        """An array of tables (`[[key]]`), each named `key[N]` (from 1) in errors; empty when absent."""
        value = self._get(key, False)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(key, "must be an array of tables ([[...]] sections)")
        return [Table(self.source, v, f"{self.key(key)}[{n}].") for n, v in enumerate(value, 1)]

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.error(unknown[0], "is not a known key")
