"""`r1gate`: serve the gateway, manage keys; `policy`, `explain` and `engine` plug in here.

Bad settings print one line and exit with code 2; no traceback reaches the terminal.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import sys
import tempfile
from datetime import date, datetime
from typing import Callable, Sequence

from engine import cli as engine_cli

from . import audit, config, ledger
from .db import Database
from .errors import ConfigError
from .keys import KeyStore, announce_revocation
from .redis_link import RedisDown, RedisLink
from .table import print_table
from .policy import commands as policy_commands


def _settings(args: argparse.Namespace) -> config.Settings:
    return config.load(getattr(args, "config", None))


def serve(args: argparse.Namespace) -> int:
    # Before prometheus_client is imported (by the app): it picks where values go at import.
    # Workers write their metrics here; a scrape adds them up, with one worker or several.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="r1gate-metrics-"))
    import uvicorn

    from .app import policy_router
    from .metrics import serve_shared

    settings = _settings(args)
    Database(settings.database_url).close()  # a wrong database URL fails here, not per request
    policy_router(settings)  # so does a broken policy file
    if settings.inspection_workers is None and args.workers > 1:  # share the cores among workers
        os.environ["R1GATE_INSPECTION_WORKERS"] = str(max(1, (os.cpu_count() or 1) // args.workers))
    if args.config:
        os.environ["R1GATE_CONFIG"] = os.path.abspath(args.config)  # for each worker process
    if settings.metrics.listen:
        host, _, port = settings.metrics.listen.rpartition(":")
        try:
            serve_shared(host.strip("[]"), int(port))
        except OSError as exc:
            raise ConfigError(f"metrics.listen: cannot listen on {settings.metrics.listen}: {exc.strerror}") from None
    uvicorn.run("proxy.app:create_app_from_env", factory=True, host=args.host, port=args.port,
                workers=args.workers, access_log=False, log_level="warning", lifespan="on",
                http="proxy.connections:GuardedProtocol", timeout_keep_alive=settings.serve.keep_alive_s)
    return 0


def _db(args: argparse.Namespace) -> Database:
    return Database(_settings(args).database_url)


def keys_create(args: argparse.Namespace) -> int:
    if args.budget_usd is not None and args.budget_usd < 0:
        raise ConfigError("--budget-usd: must not be negative")
    key = KeyStore(_db(args)).create(args.team, args.budget_usd, admin=args.admin)
    kind = "an admin key" if args.admin else "a key"
    print(f"Created {kind} for team '{args.team}'. It is shown only once; store it now:")
    print(key)
    return 0


def budgets_set(args: argparse.Namespace) -> int:
    if args.usd is not None and args.usd < 0:
        raise ConfigError("--usd: must not be negative")
    ledger.set_team_budget(_db(args), args.team, args.usd)
    if args.usd is None:
        print(f"Team '{args.team}' has no budget now.")
        return 0
    print(f"Team '{args.team}' may spend ${args.usd:.2f} per calendar month (UTC).")
    return 0


def spend_report(args: argparse.Namespace) -> int:
    rows = ledger.spend(_db(args), by=args.by, team=args.team, since=_day(args.since, "--since"),
                        until=_day(args.until, "--until"))
    columns = [args.by, "requests", "cache_hits", "prompt_tokens", "completion_tokens", "reasoning_tokens",
               "cost_usd", "all_cloud_usd", "reference_usd", "cache_saved_usd"]
    _print(rows, columns, args.format, total=True)
    return 0


def audit_query(args: argparse.Namespace) -> int:
    rows = ledger.audit(_db(args), team=args.team, rule=args.rule, route=args.route,
                        since=_day(args.since, "--since"), until=_day(args.until, "--until"), limit=args.limit)
    columns = ["ts", "request_id", "team", "model", "route", "status", "rules", "entities", "policy_version"]
    _print(rows, columns, args.format, total=False)
    return 0


def audit_verify(args: argparse.Namespace) -> int:
    result = audit.verify(_db(args))
    print(json.dumps(result.as_dict(), indent=2) if args.format == "json" else result.summary())
    return 0 if result.intact else 1


def audit_report(args: argparse.Namespace) -> int:
    settings = _settings(args)
    rep = audit.report(Database(settings.database_url), audit.protected_types(settings.policy),
                       since=_day(args.since, "--since"), until=_day(args.until, "--until"))
    if args.format == "json":
        print(json.dumps(rep.as_dict(), indent=2))
    else:
        print_report(rep)
    return 0 if rep.verification and rep.verification.intact else 1


def print_report(rep: audit.Report) -> None:
    print(f"Compliance report, {rep.since or 'the first record'} to {rep.until or 'now'} (UTC)\n")
    print(f"Requests: {rep.requests}")
    print_table(["route", "requests"], [[k, str(v)] for k, v in sorted(rep.by_route.items())])
    print_table(["action", "requests"], [[k, str(v)] for k, v in sorted(rep.by_action.items())])
    print("\nSensitive findings by entity type, and where they went (protected types marked *):")
    print_table(["entity_type", *audit.DESTINATIONS],
                [[t + (" *" if t in rep.protected_types else ""), *(str(c[d]) for d in audit.DESTINATIONS)]
                 for t, c in sorted(rep.findings.items())])
    print("\nPolicy versions that decided in the period (version = the policy file's content hash):")
    print_table(["policy_version", "first", "last", "requests"],
                [[v, i["first"], i["last"], str(i["requests"])] for v, i in rep.policy_versions.items()])
    if rep.policy_changes:
        print("\nPolicy changes saved from the console:")
        print_table(["ts", "by key", "new version"],
                    [[c["ts"], c["key_id"] or "-", c["policy_version"] or "-"] for c in rep.policy_changes])
    assert rep.verification is not None
    print(f"\nVerification: {rep.verification.summary()}")
    print(f"\n{rep.statement()}")


def audit_export(args: argparse.Namespace) -> int:
    for record in audit.records(_db(args), since=_day(args.since, "--since"), until=_day(args.until, "--until")):
        sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
    return 0


def _day(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).isoformat() if "T" in value else date.fromisoformat(value).isoformat()
    except ValueError:
        raise ConfigError(f"{option}: expected a date like 2026-11-01 (or 2026-11-01T08:00), not {value!r}") from None


def _print(rows: list[dict], columns: list[str], fmt: str, total: bool) -> None:
    if fmt == "json":
        print(json.dumps(rows, indent=2))
        return
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    if total and rows:
        cells.append(["TOTAL"] + [_cell(sum(r[c] for r in rows)) for c in columns[1:]])
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(cells)
        return
    print_table(columns, cells)
    if not rows:
        print("(nothing recorded for these filters)")


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, (list, dict)):
        return ",".join(value) if isinstance(value, list) else ",".join(f"{k}={v}" for k, v in value.items())
    return "-" if value is None else str(value)


def keys_list(args: argparse.Namespace) -> int:
    rows = [{"id": r.id, "team": r.team, "budget_usd": r.budget_usd, "admin": "yes" if r.admin else "-",
             "created": r.created_at, "revoked": r.revoked_at} for r in KeyStore(_db(args)).list()]
    _print(rows, ["id", "team", "budget_usd", "admin", "created", "revoked"], "table", total=False)
    return 0


def keys_revoke(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not KeyStore(Database(settings.database_url)).revoke(args.id):
        print(f"No active key with id {args.id}.", file=sys.stderr)
        return 1
    print(f"Revoked key {args.id}.")
    if settings.redis_url and not asyncio.run(_announce_revocation(settings)):
        print(f"Redis is unreachable: replicas refuse the key within {settings.key_cache_ttl_s:g} s "
              "(key_cache_ttl_s) instead of at once.", file=sys.stderr)
    return 0


async def _announce_revocation(settings: config.Settings) -> bool:
    """Tells every replica at once (see `keys.py`); False when Redis cannot be reached."""
    redis = RedisLink(settings.redis_url, settings.cache.redis_timeout_s)
    try:
        await announce_revocation(redis)
        return True
    except RedisDown:
        return False
    finally:
        await redis.aclose()


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
    p.add_argument("--budget-usd", type=float, help="this key's budget per calendar month (UTC)")
    p.add_argument("--admin", action="store_true", help="may read every team's spend over HTTP")
    command("list", keys_list, "list keys (never their secrets)", keys)
    p = command("revoke", keys_revoke, "revoke a key by its id", keys)
    p.add_argument("id")

    budgets = sub.add_parser("budgets", help="team budgets").add_subparsers(dest="budgets_command", required=True)
    p = command("set", budgets_set, "set (or, without --usd, remove) a team's monthly budget", budgets)
    p.add_argument("--team", required=True)
    p.add_argument("--usd", type=float)

    spend = sub.add_parser("spend", help="spend reports").add_subparsers(dest="spend_command", required=True)
    p = command("report", spend_report, "spend by team, model, route or day, with what it would have cost "
                "all in the cloud, at the reference price, and what the cache saved", spend)
    p.add_argument("--team")
    p.add_argument("--since", help="first day (UTC), e.g. 2026-11-01")
    p.add_argument("--until", help="day after the last (UTC)")
    p.add_argument("--by", choices=sorted(ledger.GROUPS), default="team")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")

    p = command("audit", audit_query, "the decision records: which rules fired, which entity types were found "
                "(never the values), the route and the outcome")
    p.add_argument("--team")
    p.add_argument("--rule", help="only requests where this rule id matched")
    p.add_argument("--route", choices=["cloud", "onprem", "blocked"])
    p.add_argument("--since")
    p.add_argument("--until")
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    evidence = p.add_subparsers(dest="audit_command", metavar="{verify,report,export}")
    p = command("verify", audit_verify, "re-compute the audit trail's hash chain; names the first broken "
                "record and exits 1 if there is one", evidence)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p = command("report", audit_report, "the compliance summary for a period: requests by route and action, "
                "findings by type and where they went, policy versions, the chain's verification", evidence)
    p.add_argument("--since", help="first day (UTC), e.g. 2026-10-01")
    p.add_argument("--until", help="day after the last (UTC)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p = command("export", audit_export, "the audit records as JSON lines (with their hashes), for a SIEM", evidence)
    p.add_argument("--since")
    p.add_argument("--until")

    policy_commands.register(sub)
    engine_cli.register(sub)  # imports torch only when an engine command runs
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
