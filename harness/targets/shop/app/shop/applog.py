"""The app's structured log: one JSON object a line, appended to a file the web host
keeps (SHOP_APP_LOG), from the app server's threads and the worker alike."""

import json
import os
import threading
import time

PATH = os.environ.get("SHOP_APP_LOG", "/srv/app/shared/log/app.jsonl")
_lock = threading.Lock()


def log(level, event, **fields):
    """Append one line; a log that cannot be written never fails the request."""
    line = json.dumps({"ts": round(time.time(), 3), "level": level, "event": event, "pid": os.getpid(), **fields})
    try:
        with _lock, open(PATH, "a") as out:
            out.write(line + "\n")
    except OSError:
        pass
