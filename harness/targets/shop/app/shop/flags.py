"""Feature flags: each flag is on for a percentage of users, kept in the database's
`flags` table and read on every request it guards, so a flip takes effect at once."""

import zlib

from shop import db


def bucket(flag, user):
    """A user's bucket for a flag, 0 to 99: stable for the pair, spread across users."""
    return zlib.crc32(f"{flag}:{user}".encode()) % 100


def enabled(settings, flag, user):
    row = db.run(settings, "SELECT percent FROM flags WHERE name = %s", (flag,), fetch="one")
    return row is not None and bucket(flag, user) < int(row[0])
