"""Schema fingerprints for the clean-round-trip check: `pg_dump --schema-only` text,
normalised so that two dumps of the same schema compare equal, and named objects, so a
difference names what a database rollback left behind.

Normalising drops what differs between dumps of one schema: comments, blank lines, the
session settings pg_dump emits (`SET …`, `SELECT pg_catalog.set_config(…)`), psql
meta-commands (`\\restrict` with its per-dump key), whitespace runs, and order: the
statements are sorted, and so are a table's columns and constraints (a column dropped and
added back comes back at the end of the table: the same schema to every query that names
its columns).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_SESSION = re.compile(r"^(SET |SELECT pg_catalog\.set_config\()", re.IGNORECASE)
_NAMES = [
    (re.compile(r"^CREATE (?:UNIQUE )?INDEX (?:CONCURRENTLY )?(?:IF NOT EXISTS )?(\S+)", re.I), "index"),
    (re.compile(r"^CREATE TYPE (\S+)", re.I), "type"),
    (re.compile(r"^CREATE DOMAIN (\S+)", re.I), "domain"),
    (re.compile(r"^CREATE SEQUENCE (?:IF NOT EXISTS )?(\S+)", re.I), "sequence"),
    (re.compile(r"^CREATE (?:OR REPLACE )?(?:FUNCTION|PROCEDURE) ([^\s(]+)", re.I), "function"),
    (re.compile(r"^CREATE (?:OR REPLACE )?(?:MATERIALIZED )?VIEW (\S+)", re.I), "view"),
    (re.compile(r"^CREATE (?:CONSTRAINT )?TRIGGER (\S+)", re.I), "trigger"),
    (re.compile(r"^CREATE EXTENSION (?:IF NOT EXISTS )?(\S+)", re.I), "extension"),
    (re.compile(r"^ALTER TABLE (?:ONLY )?(\S+) ADD CONSTRAINT (\S+)", re.I), "constraint"),
]
_TABLE = re.compile(r"^CREATE (?:UNLOGGED )?TABLE (\S+) \((.*)\)(.*)$", re.I | re.S)


def _split(text: str, separator: str, nesting: bool = False) -> Iterator[str]:
    """`text` cut at `separator` outside quotes ('…', "…", $tag$…$tag$) and, with
    `nesting`, outside parentheses."""
    depth, start, i, quote = 0, 0, 0, ""
    while i < len(text):
        ch = text[i]
        if quote:
            if text.startswith(quote, i):
                i += len(quote)
                quote = ""
                continue
        elif ch in "'\"":
            quote = ch
        elif ch == "$" and (tag := re.match(r"\$[A-Za-z_0-9]*\$", text[i:])):
            quote = tag.group(0)
            i += len(quote)
            continue
        elif nesting and ch == "(":
            depth += 1
        elif nesting and ch == ")":
            depth -= 1
        elif ch == separator and depth == 0:
            yield text[start:i]
            start = i + 1
        i += 1
    yield text[start:]


def statements(dump: str) -> list[str]:
    """The dump's DDL statements, normalised (see the module) and sorted."""
    lines = [line for line in dump.splitlines()
             if line.strip() and not line.lstrip().startswith(("--", "\\"))]
    found = []
    for raw in _split("\n".join(lines), ";"):
        statement = " ".join(raw.split())
        if not statement or _SESSION.match(statement):
            continue
        table = _TABLE.match(statement)
        if table:
            items = sorted(" ".join(item.split()) for item in _split(table.group(2), ",", nesting=True))
            statement = f"CREATE TABLE {table.group(1)} ({', '.join(items)}){table.group(3)}"
        found.append(statement)
    return sorted(found)


def _bare(name: str) -> str:
    """`public.orders` → `orders`: the replica's tables live in the public schema."""
    return name.removeprefix("public.").strip('"')


def objects(normalised: list[str]) -> dict[str, str]:
    """Each schema object as "kind name" (`table orders`, `column orders.customer`,
    `index jobs_pending`, `constraint orders.orders_pkey`…) → its normalised definition.
    A statement that defines no named object is its own key."""
    found: dict[str, str] = {}
    for statement in normalised:
        table = _TABLE.match(statement)
        if table:
            name = _bare(table.group(1))
            found[f"table {name}"] = table.group(3).strip()
            for item in _split(table.group(2), ",", nesting=True):
                item = item.strip()
                head = item.split(" ", 1)[0]
                if head.upper() in ("CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "EXCLUDE"):
                    found[f"table constraint {name}: {item}"] = item
                else:
                    found[f"column {name}.{_bare(head)}"] = item
            continue
        for pattern, kind in _NAMES:
            named = pattern.match(statement)
            if named:
                parts = [_bare(g) for g in named.groups()]
                found[f"{kind} {'.'.join(parts)}"] = statement
                break
        else:
            found[statement] = statement
    return found


def difference(before: list[str], after: list[str]) -> tuple[list[str], list[str]]:
    """(leftover, missing) between two normalised dumps: objects only `after` has, or
    whose definition changed (suffixed " (changed)"), and objects only `before` had."""
    was, now = objects(before), objects(after)
    leftover = [name for name in now if name not in was]
    leftover += [f"{name} (changed)" for name in now if name in was and was[name] != now[name]]
    missing = [name for name in was if name not in now]
    return sorted(leftover), sorted(missing)
