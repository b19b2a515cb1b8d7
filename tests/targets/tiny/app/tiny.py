"""A tiny WSGI app: a greeting, /health and /version, and nothing else."""

import json
from pathlib import Path

# The app server starts in the release directory (`current`, resolved by chdir).
RELEASE = Path.cwd().name
GREETING = (Path.cwd() / "greeting.txt").read_text().strip()


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/version":
        body, kind = json.dumps({"release": RELEASE}).encode(), "application/json"
    elif path == "/health":
        body, kind = b"ok\n", "text/plain"
    else:
        body, kind = f"hello from {GREETING}\n".encode(), "text/plain"
    start_response("200 OK", [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]
