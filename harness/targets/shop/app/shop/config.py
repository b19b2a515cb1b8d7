"""Settings: the host's shared environment, then the release's own config file."""

import os
from pathlib import Path

RELEASE_DIR = Path(__file__).resolve().parent.parent
SHARED_ENV = Path(os.environ.get("SHOP_SHARED_ENV", "/srv/app/shared/.env"))


def read_env_file(path):
    values = {}
    if not path.exists():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip()
    return values


def load():
    settings = dict(os.environ)
    settings.update(read_env_file(SHARED_ENV))
    settings.update(read_env_file(RELEASE_DIR / "config" / "app.env"))
    return settings


def revision():
    """The release this code was loaded from: its directory name and release name."""
    name_file = RELEASE_DIR / "REVISION"
    name = name_file.read_text().strip() if name_file.exists() else "unknown"
    return {"release": RELEASE_DIR.name, "name": name}
