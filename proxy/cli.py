"""`r1gate`: serve the gateway, manage keys; `policy`, `explain` and `engine` plug in here.

Bad settings print one line and exit with code 2; no traceback reaches the terminal.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

from . import config
from .db import Database
from .errors import ConfigError
from .keys import KeyStore


def _settings(args: argparse.Namespace) -> config.Settings:
    return config.load(getattr(args, "config", None))


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings(args)
    Database(settings.database_url).close()  # a wrong database URL fails here, not per request
    if args.config:
        os.environ["R1GATE_CONFIG"] = os.path.abspath(args.config)  # for each worker process
    uvicorn.run("proxy.app:create_app_from_env", factory=True, host=args.host, port=args.port,
                workers=args.workers, access_log=False, log_level="warning", lifespan="on")
    return 0


def keys_create(args: argparse.Namespace) -> int:
    if args.budget_usd is not None and args.budget_usd < 0:
        raise ConfigError("--budget-usd: must not be negative")
    store = KeyStore(Database(_settings(args).database_url))
    key = store.create(args.team, args.budget_usd)
    print(f"Created a key for team '{args.team}'. It is shown only once; store it now:")
    print(key)
    return 0


def keys_list(args: argparse.Namespace) -> int:
    records = KeyStore(Database(_settings(args).database_url)).list()
    print(f"{'ID':<14}{'TEAM':<20}{'BUDGET_USD':>12}  {'CREATED':<27}REVOKED")
    for r in records:
        budget = f"{r.budget_usd:.2f}" if r.budget_usd is not None else "-"
        print(f"{r.id:<14}{r.team:<20}{budget:>12}  {r.created_at:<27}{r.revoked_at or '-'}")
    return 0


def keys_revoke(args: argparse.Namespace) -> int:
    if KeyStore(Database(_settings(args).database_url)).revoke(args.id):
        print(f"Revoked key {args.id}.")
        return 0
    print(f"No active key with id {args.id}.", file=sys.stderr)
    return 1


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="r1gate", description="A privacy gateway for DeepSeek-R1.")
    sub = top.add_subparsers(dest="command", required=True)

    def command(name: str, func: Callable[[argparse.Namespace], int], help: str,
                where: argparse._SubParsersAction = sub) -> argparse.ArgumentParser:
        p = where.add_parser(name, help=help, description=help)
        p.add_argument("--config", metavar="FILE", help="YAML settings (the environment overrides it)")
        p.set_defaults(func=func)
        return p

    p = command("serve", serve, "run the gateway")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--workers", type=int, default=1)

    keys = sub.add_parser("keys", help="create, list and revoke client keys").add_subparsers(
        dest="keys_command", required=True)
    p = command("create", keys_create, "create a key for a team (printed once, as the last line)", keys)
    p.add_argument("--team", required=True)
    p.add_argument("--budget-usd", type=float)
    command("list", keys_list, "list keys (never their secrets)", keys)
    p = command("revoke", keys_revoke, "revoke a key by its id", keys)
    p.add_argument("id")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"r1gate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
