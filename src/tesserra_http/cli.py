"""The ``tesserra`` command: serve, mcp, db upgrade, admin create, keys create, audit verify and checkpoint.

Start-up creates a few hundred thousand objects that live as long as the process (modules, classes,
routes) and next to no garbage, yet the cyclic collector would walk the growing heap dozens of times
while they are made (~0.2 s of a cold start). ``main`` turns it off before anything heavy is imported,
here or below; ``serve`` collects and freezes the heap once the app is built, then turns it back on,
and the other commands turn it back on before they run.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tesserra_adapters.settings import Settings
    from tesserra_core.facade import UseCases


def _configure_logging(level: str, form: str) -> None:
    from tesserra_http.context import RequestIdLogFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdLogFilter())
    if form == "json":
        from tesserra_http.json_logs import JsonFormatter

        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "mcp.server.streamable_http_manager", "mcp.server.streamable_http"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def mcp_stdio(settings: Settings) -> None:
    from tesserra_adapters.bootstrap import running
    from tesserra_http.serving import run_loop
    from tesserra_mcp import run_stdio

    key = os.environ.get("TESSERRA_API_KEY", "")
    if not key:
        raise SystemExit("tesserra mcp: set TESSERRA_API_KEY to the API key to act as")

    acting_user_id = os.environ.get("TESSERRA_USER_ID") or None  # X-User-Id over HTTP (Infra SSH needs it)

    async def main() -> None:
        async with running(settings) as uc:
            await uc.authenticate(key, acting_user_id)  # refuse a bad key (or user) before serving anything
            async with uc.running(guest=True):
                await run_stdio(uc, key, acting_user_id)

    run_loop(main)


def _with_facade(settings: Settings, work: Callable[[UseCases], Awaitable[Any]]) -> Any:
    from tesserra_adapters.bootstrap import running
    from tesserra_http.serving import run_loop

    async def main() -> Any:
        async with running(settings) as uc:
            return await work(uc)

    return run_loop(main)


def main(argv: list[str] | None = None) -> None:
    gc.disable()  # see the module's docstring
    parser = argparse.ArgumentParser(prog="tesserra", description="Tesserra control plane")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="serve the REST API, /mcp, /health and /status")
    p_serve.add_argument("--host")
    p_serve.add_argument("--port", type=int)
    p_serve.add_argument("--workers", type=int, help="worker processes sharing the socket (default 1)")
    sub.add_parser("mcp", help="serve MCP over stdio as the key in TESSERRA_API_KEY")
    p_db = sub.add_parser("db", help="database schema")
    p_db.add_argument("action", choices=["upgrade"])
    p_db.add_argument("--revision", default="head")
    p_admin = sub.add_parser("admin", help="platform administrators")
    p_admin.add_argument("action", choices=["create"])
    p_admin.add_argument("--email", required=True)
    p_admin.add_argument("--password", help="default: TESSERRA_ADMIN_PASSWORD, or generated and printed")
    p_admin.add_argument("--tenant", default="Default", help="name of the new tenant they own")
    p_keys = sub.add_parser("keys", help="API keys")
    p_keys.add_argument("action", choices=["create"])
    p_keys.add_argument("--email", required=True, help="the user the key acts as")
    p_keys.add_argument("--name", required=True)
    p_keys.add_argument("--tenant-id")
    p_keys.add_argument("--scopes", help="comma-separated; default: the user's scopes less admin")
    p_keys.add_argument("--tier", choices=["basic", "standard", "admin"])
    p_audit = sub.add_parser("audit", help="the Infra SSH audit chain")
    p_audit.add_argument("action", choices=["verify", "checkpoint"])
    p_audit.add_argument("--tenant-id", required=True)
    args = parser.parse_args(argv)

    from tesserra_adapters.settings import Settings
    from tesserra_core.errors import TesserraError

    settings = Settings.from_env(
        host=getattr(args, "host", None), port=getattr(args, "port", None), workers=getattr(args, "workers", None)
    )
    _configure_logging(settings.log_level, settings.log_format)
    try:
        _dispatch(args, settings)
    except TesserraError as exc:
        raise SystemExit(f"tesserra: {exc.message} ({exc.code})") from None


def audit_verify(settings: Settings, tenant_id: str) -> None:
    """``tesserra audit verify``: check a tenant's Infra SSH audit chain and its signed checkpoints; exit 1
    naming the first bad record or checkpoint."""
    result = _with_facade(settings, lambda uc: uc.infra_ssh.verify_audit.tenant(tenant_id))
    if result.ok:
        print(f"audit of tenant {tenant_id}: ok, {result.checked} records, {result.checkpoints} checkpoints")
        return
    where = f"first bad record seq {result.first_bad_seq} (id {result.first_bad_id})"
    if result.bad_checkpoint_seq is not None:
        where = f"bad checkpoint seq {result.bad_checkpoint_seq}, {where}"
    print(f"audit of tenant {tenant_id}: {where}: {result.problem}; {result.checked} records before it are intact")
    raise SystemExit(1)


def audit_checkpoint(settings: Settings, tenant_id: str) -> None:
    """``tesserra audit checkpoint``: sign and keep a checkpoint of where the tenant's chain ends now."""
    mark = _with_facade(settings, lambda uc: uc.infra_ssh.checkpoint_audit.tenant(tenant_id))
    if mark is None:
        print(f"audit of tenant {tenant_id}: no record yet, no checkpoint")
        return
    print(f"audit of tenant {tenant_id}: checkpoint at seq {mark.seq}, head {mark.head_hash}")


def _dispatch(args: argparse.Namespace, settings: Settings) -> None:
    from tesserra_core.domain.identity import Tier
    from tesserra_core.usecases.operators import KeyForUser, NewAdmin

    if args.command == "serve":
        from tesserra_http.serving import return_large_blocks_to_the_os, serve

        return_large_blocks_to_the_os()
        serve(settings, settings.workers)  # turns the collector back on once the app is built
        return
    gc.enable()
    if args.command == "mcp":
        mcp_stdio(settings)
    elif args.command == "audit" and args.action == "checkpoint":
        audit_checkpoint(settings, args.tenant_id)
    elif args.command == "audit":
        audit_verify(settings, args.tenant_id)
    elif args.command == "db":
        from tesserra_adapters.bootstrap import upgrade_database

        upgrade_database(settings, args.revision)
        print(f"database at {args.revision}")
    elif args.command == "admin":
        password = args.password or os.environ.get("TESSERRA_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        tenant = _with_facade(
            settings,
            lambda uc: uc.operators.create_admin(
                NewAdmin(email=args.email, password=password, tenant_name=args.tenant)
            ),
        )
        print(f"created platform admin {args.email} owning tenant {tenant.slug} ({tenant.id})")
        if not args.password and not os.environ.get("TESSERRA_ADMIN_PASSWORD"):
            print(f"password: {password}")
    elif args.command == "keys":
        cmd = KeyForUser(
            email=args.email,
            name=args.name,
            tenant_id=args.tenant_id,
            scopes=args.scopes.split(",") if args.scopes else None,
            tier=Tier(args.tier) if args.tier else None,
        )
        minted = _with_facade(settings, lambda uc: uc.operators.mint_key_for_user(cmd))
        print(minted.key)


if __name__ == "__main__":
    main()
