"""The `gameday` command line: the one place where errors become messages and exit codes."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from harness import __version__
from harness.errors import HarnessError
from harness.images import DEFAULT_BASE_IMAGE, ensure_images
from harness.staging import Staging, connect, new_run_id
from harness.target import find_target

EXIT_INTERRUPTED = 130


def say(message: str) -> None:
    print(f"gameday: {message}", file=sys.stderr, flush=True)


def echo(line: str) -> None:
    print(line, flush=True)


def cmd_up(args: argparse.Namespace) -> int:
    target = find_target(args.target)
    release = args.release or target.first_release
    if release not in target.releases:
        raise HarnessError(f"--release: {release!r} is not a release of {target.name} ({', '.join(target.releases)})")
    client = connect()
    images = ensure_images(client, target, args.base_image, say)
    staging = Staging(client, say)
    run_id = new_run_id("up", datetime.now(UTC))
    replica = staging.create(target, images, run_id, "up")
    try:
        staging.deploy_tool_checked(replica, ["deploy", release], echo)
    except BaseException:
        staging.remove(run_id)
        raise
    print(f"replica {replica.run_id} is up with {release}: {replica.url}")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    staging = Staging(connect(), say)
    replica = staging.find(args.run)
    tool_args = ["deploy", args.release] + (["--no-gate"] if args.no_gate else [])
    staging.deploy_tool_checked(replica, tool_args, echo)
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    staging = Staging(connect(), say)
    replica = staging.find(args.run)
    tool_args = ["rollback"] + ([args.release] if args.release else [])
    tool_args += (["--db"] if args.db else []) + (["--db-only"] if args.db_only else [])
    staging.deploy_tool_checked(replica, tool_args, echo)
    return 0


def cmd_releases(args: argparse.Namespace) -> int:
    staging = Staging(connect(), say)
    replica = staging.find(args.run)
    print(staging.deploy_tool_checked(replica, ["releases"]).stdout, end="")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    staging = Staging(connect(), say)
    status = staging.status(staging.find(args.run))
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    print(f"run       {status['run_id']}  (target {status['target']})")
    print(f"url       {status['url']}")
    print(f"release   {status['current_release']} ({status['current_name']})")
    for c in status["containers"]:
        ports = ", ".join(b for binds in c["ports"].values() for b in binds)
        print(f"{c['role']:<9} {c['name']}  {c['status']}  {ports}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    staging = Staging(connect(), say)
    if args.all:
        runs = staging.run_ids()
    elif args.run:
        runs = [args.run]
    else:
        runs = [staging.find(None).run_id]
    if not runs:
        print("no gameday resources to remove")
    for run_id in runs:
        counts = staging.remove(run_id)
        print(f"removed {run_id}: {counts['containers']} containers, "
              f"{counts['networks']} networks, {counts['volumes']} volumes")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="gameday", description="Rehearse rollbacks against a staging replica.")
    top.add_argument("--version", action="version", version=f"gameday {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, with_run: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        if with_run:
            p.add_argument("--run", metavar="RUN_ID", help="the replica to act on (default: the only one)")
        return p

    p = command("up", "build if needed, start a replica and deploy its first release", with_run=False)
    p.add_argument("--target", default="shop", help="bundled target name or target.toml path (default: shop)")
    p.add_argument("--release", help="release to deploy first (default: the target's first_release)")
    p.add_argument("--base-image", default=os.environ.get("BASE_IMAGE", DEFAULT_BASE_IMAGE),
                   help=f"image the Dockerfiles start FROM (default: $BASE_IMAGE or {DEFAULT_BASE_IMAGE})")
    p.set_defaults(func=cmd_up)

    p = command("deploy", "deploy a release to the replica")
    p.add_argument("release")
    p.add_argument("--no-gate", action="store_true", help="put the release live without the health gate")
    p.set_defaults(func=cmd_deploy)

    p = command("rollback", "swap back to the previous release (or the one named)")
    p.add_argument("release", nargs="?")
    p.add_argument("--db", action="store_true", help="also revert the abandoned release's schema")
    p.add_argument("--db-only", action="store_true", help="only revert the schema of the release last rolled back from")
    p.set_defaults(func=cmd_rollback)

    p = command("releases", "list the replica's releases; * marks current")
    p.set_defaults(func=cmd_releases)

    p = command("status", "show the replica's URL, current release and containers")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = command("down", "remove a replica's containers, network and volume")
    p.add_argument("--all", action="store_true", help="remove every gameday-labelled resource on this engine")
    p.set_defaults(func=cmd_down)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        say("interrupted")
        return EXIT_INTERRUPTED
    except HarnessError as exc:
        say(str(exc))
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
