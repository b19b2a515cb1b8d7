"""Redaction: the one function every output of gameday goes through (result.json, the
timeline, JUnit, the HTML reports, the logs kept in a run directory, the terminal).

What it hides, wherever it appears in a string:
- the password of any URL's userinfo (`http://user:***@host`), and the whole userinfo of
  an http(s) URL that has no password (`https://***@host`: a token in the user's place);
- the `password=` of a libpq key/value DSN (`host=db password=*** dbname=app`);
- every value gameday was told is secret: a target's `secrets` (environment variables
  gameday's processes and the team's deploy commands see), the password of its
  environment's URL and DSN, and a replica's database password.

Values shorter than MIN_SECRET characters are not masked as text: "1" would mask every digit.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

MASK = "***"
MIN_SECRET = 4

# scheme://user:password@ (the password may be empty); the user keeps its name.
URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/@:'\"<>]*:)[^\s/@'\"<>]*(?=@)")
# http(s)://token@: userinfo without a colon.
URL_TOKEN = re.compile(r"(?P<head>\bhttps?://)[^\s/@:'\"<>]+(?=@)", re.IGNORECASE)
# libpq's key/value form: password=value or password='quoted value'.
DSN_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'|[^\s'\"]+)", re.IGNORECASE)

_lock = threading.Lock()
_secrets: set[str] = set()

T = TypeVar("T")


def keep_secret(values: Iterable[str | None]) -> None:
    """Mask these values in every output from now on (in this process)."""
    with _lock:
        _secrets.update(v for v in values if v and len(v) >= MIN_SECRET)


def secrets_of_url(url: str | None) -> list[str]:
    """The password in a URL's userinfo (as written and decoded), or none."""
    if not url:
        return []
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return [] if not password else [password, unquote(password)]


def secrets_of_dsn(dsn: str | None) -> list[str]:
    """A DSN's password, in its URL form or its key/value form."""
    if not dsn:
        return []
    found = secrets_of_url(dsn) if "://" in dsn else []
    match = re.search(r"\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn, re.IGNORECASE)
    if match:
        value = match.group(1)
        found.append(value.strip("'").replace("\\'", "'") if value.startswith("'") else value)
    return found


def redact_text(text: str) -> str:
    """`text` with every secret the module docstring lists masked."""
    if not text:
        return text
    text = URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    text = URL_TOKEN.sub(lambda m: m.group("head") + MASK, text)
    text = DSN_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact(value: T) -> T:
    """A copy of a JSON-like value (dicts, lists, strings, numbers) with every string
    redacted; keys stay as they are."""
    return _redact(value)  # type: ignore[no-any-return]


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value
