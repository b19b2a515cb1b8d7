"""Load a locustfile the way Locust does and say what it defines, as one JSON line:
{"users": [names], "shape": name or null}. Run as a script in its own process (Locust
patches the standard library with gevent on import), before anything else starts. A
locustfile that cannot load exits 1 with Python's own error on stderr. It imports
nothing from gameday.

Usage: python manifest.py LOCUSTFILE
"""

import json
import sys


def main(path: str) -> int:
    from locust.util.load_locustfile import load_locustfile

    try:
        users, shapes = load_locustfile(path)
    except SystemExit as exc:  # Locust's loader exits on a file it cannot import
        return int(exc.code or 1)
    except BaseException as exc:
        # Python's own line: a SyntaxError names the file and line itself.
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if not users:
        print("no User class: Locust would have nothing to run", file=sys.stderr)
        return 1
    shape = type(shapes[0]).__name__ if shapes else None
    print(json.dumps({"users": sorted(users), "shape": shape}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
