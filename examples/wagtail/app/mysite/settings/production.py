"""Settings for the staging replica (and production): DEBUG off, PostgreSQL from .env.

The release directory holds `.env` (a symlink to the shared one) with lines KEY=VALUE:
PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, and optionally SECRET_KEY.
Keys missing there are taken from the process environment. Without PGHOST the site
falls back to SQLite (SQLITE_PATH, or db.sqlite3 in the release dir) for local tests.
"""

import os

from .base import *  # noqa: F401,F403
from .base import BASE_DIR


def read_env_file(path):
    values = {}
    try:
        with open(path) as env_file:
            for line in env_file:
                line = line.strip()
                if not line or line.startswith("#") or "=" not in line:
                    continue
                key, value = line.split("=", 1)
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                    value = value[1:-1]
                values[key.strip()] = value
    except FileNotFoundError:
        pass
    return values


ENV = {**os.environ, **read_env_file(os.path.join(BASE_DIR, ".env"))}

DEBUG = False
ALLOWED_HOSTS = ["*"]
SECRET_KEY = ENV.get("SECRET_KEY") or "staging-only-key-not-secret-9f3c1e7a5b2d4c6e8a0b"

if ENV.get("PGHOST"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": ENV["PGHOST"],
            "PORT": ENV.get("PGPORT", "5432"),
            "USER": ENV.get("PGUSER", ""),
            "PASSWORD": ENV.get("PGPASSWORD", ""),
            "NAME": ENV.get("PGDATABASE", "wagtail"),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": ENV.get("SQLITE_PATH") or os.path.join(BASE_DIR, "db.sqlite3"),
        }
    }

# Collected into the release dir by the build; user uploads live in the shared dir.
STATIC_ROOT = os.path.join(BASE_DIR, "static")
MEDIA_ROOT = os.path.join(BASE_DIR, "storage")

# With DEBUG off Django only mails errors; send them to stderr (the supervisord log).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

try:
    from .local import *  # noqa: F401,F403
except ImportError:
    pass
