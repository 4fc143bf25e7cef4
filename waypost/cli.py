"""The `waypost` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx

from shared.crypto import load_signing_key, new_b64_key, public_key_b64
from waypost.embedded import UpOptions, run_up
from waypost.processes import granian_argv


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="waypost", description="Waypost AI gateway")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run the all-in-one embedded gateway (SQLite, embedded NATS, both planes)")
    up.add_argument("--data-dir", type=Path, default=Path(".waypost"), help="folder for the database, NATS and logs")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=4000, help="data plane port (OpenAI-compatible API)")
    up.add_argument("--admin-port", type=int, default=4100, help="control plane port (admin API)")
    up.add_argument("--nats-port", type=int, default=0, help="embedded NATS port (0: a free port)")
    up.add_argument(
        "--demo",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="seed a demo team, mock provider, route 'demo' and a key",
    )

    for name, default_port in (("controlplane", 4100), ("dataplane", 4000)):
        plane = commands.add_parser(name, help=f"run the {name} under Granian (settings from WAYPOST_* variables)")
        plane.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a server meant to be reached
        plane.add_argument("--port", type=int, default=default_port)
        plane.add_argument("--workers", type=int, default=1)

    migrate = commands.add_parser("migrate", help="apply database migrations (WAYPOST_DATABASE_URL)")
    migrate.add_argument("--revision", default="head")

    commands.add_parser("keygen", help="print fresh WAYPOST_SECRET_KEY, WAYPOST_SIGNING_KEY and WAYPOST_VERIFY_KEY")

    api = commands.add_parser("api", help='call the admin API, e.g. `waypost api POST /teams \'{"name": "x"}\'`')
    api.add_argument("method", choices=["GET", "POST", "PATCH", "DELETE"])
    api.add_argument("path", help="path under /api/v1, e.g. /teams")
    api.add_argument("body", nargs="?", help="JSON body")
    return parser


def _keygen() -> int:
    signing_key = new_b64_key()
    print(f"WAYPOST_SECRET_KEY={new_b64_key()}")
    print(f"WAYPOST_SIGNING_KEY={signing_key}")
    print(f"WAYPOST_VERIFY_KEY={public_key_b64(load_signing_key(signing_key))}")
    return 0


def _api(method: str, path: str, body: str | None) -> int:
    base = os.environ.get("WAYPOST_ADMIN_URL", "http://127.0.0.1:4100")
    token = os.environ.get("WAYPOST_ADMIN_TOKEN", "")
    if not token:
        print("waypost: set WAYPOST_ADMIN_TOKEN", file=sys.stderr)
        return 2
    response = httpx.request(
        method,
        f"{base}/api/v1/{path.lstrip('/')}",
        headers={"Authorization": f"Bearer {token}"},
        json=json.loads(body) if body else None,
        timeout=30,
    )
    print(json.dumps(response.json(), indent=2) if response.content else response.status_code)
    return 0 if response.is_success else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "up":
        return run_up(
            UpOptions(
                data_dir=args.data_dir,
                host=args.host,
                port=args.port,
                admin_port=args.admin_port,
                nats_port=args.nats_port,
                demo=args.demo,
            )
        )
    if args.command in ("controlplane", "dataplane"):
        argv_ = granian_argv(f"{args.command}.app:make_app", host=args.host, port=args.port, workers=args.workers)
        os.execv(argv_[0], argv_)  # noqa: S606 - replaces this process with Granian
    if args.command == "migrate":
        from controlplane.db import migrate
        from controlplane.settings import database_url

        asyncio.run(migrate.upgrade(database_url(), args.revision))
        print(f"waypost: database migrated to {args.revision}")
        return 0
    if args.command == "keygen":
        return _keygen()
    return _api(args.method, args.path, args.body)


if __name__ == "__main__":
    sys.exit(main())
