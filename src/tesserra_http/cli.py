"""The ``tesserra`` command: serve, mcp, db upgrade, admin create, keys create."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from tesserra_adapters.bootstrap import running
from tesserra_adapters.settings import Settings
from tesserra_core.errors import TesserraError
from tesserra_core.usecases import UseCases
from tesserra_http.context import RequestIdLogFilter

log = logging.getLogger("tesserra")


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdLogFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "mcp.server.streamable_http_manager", "mcp.server.streamable_http"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _return_large_blocks_to_the_os() -> None:
    """glibc keeps freed blocks in per-thread arenas: each argon2id verify (19 MiB, run in a worker
    thread) would leave its buffer resident for good. Blocks of 1 MiB and more are mmap'd instead,
    so they go back to the OS when freed. No-op off glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _run(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


async def _first_owner(uc: UseCases, settings: Settings) -> None:
    password = settings.bootstrap_password or secrets.token_urlsafe(12)
    if await uc.ensure_first_owner(settings.bootstrap_email, password):
        shown = "from TESSERRA_BOOTSTRAP_PASSWORD" if settings.bootstrap_password else password
        print(
            f"First start: created tenant 'Default' with owner {settings.bootstrap_email} "
            f"(platform admin), password: {shown}\n(this is the only time it is shown)",
            file=sys.stderr,
            flush=True,
        )


def serve(settings: Settings, workers: int = 1) -> None:
    """Serve on ``settings.host:port``. With several workers, the parent binds the socket, migrates
    and creates the first owner once, then forks the workers that share the socket."""
    if workers <= 1:
        _run(lambda: _serve_worker(settings, None, first_start=True))
        return
    sock = socket.create_server((settings.host, settings.port), reuse_port=False, backlog=2048)
    _run(lambda: _prepare(settings))
    children: list[int] = []
    supervisor = os.getpid()
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the worker process
            _die_with(supervisor)
            os.setpgid(0, 0)  # signals come from the supervisor only, once
            code = 0
            try:
                _run(lambda: _serve_worker(settings, sock, first_start=False))
            except BaseException:
                log.exception("worker failed")
                code = 1
            os._exit(code)
        children.append(pid)
    sock.close()
    _supervise(children)


_PR_SET_PDEATHSIG = 1


def _die_with(supervisor: int) -> None:
    """In a worker, just forked: have the kernel SIGKILL it when its supervisor dies, whatever kills the
    supervisor (SIGKILL included), so that no orphaned worker keeps serving on the shared socket and
    the port is free for a restart. A supervisor that died before this call is caught by the parent
    check. Linux only; elsewhere a no-op."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != supervisor:
        os._exit(1)


async def _prepare(settings: Settings) -> None:
    async with running(settings) as uc:
        await _first_owner(uc, settings)


def _supervise(children: list[int]) -> None:
    def forward(signum: int, _frame: object) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    failed = False
    for pid in children:
        _, status = os.waitpid(pid, 0)
        failed = failed or os.waitstatus_to_exitcode(status) != 0
    if failed:
        raise SystemExit(1)


async def _serve_worker(settings: Settings, sock: socket.socket | None, *, first_start: bool) -> None:
    import uvicorn

    from tesserra_http.app import create_app
    from tesserra_http.protocol import BoundedHttpToolsProtocol

    async with running(settings) as uc:
        if first_start:
            await _first_owner(uc, settings)
        app = create_app(
            uc,
            allowed_hosts=settings.allowed_hosts,
            trusted_proxies=settings.trusted_proxies,
            proxy_header=settings.proxy_header,
        )
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            http=BoundedHttpToolsProtocol,
            access_log=False,
            lifespan="on",
            proxy_headers=False,
        )
        log.info(
            "Tesserra listening on http://%s:%s (pid %s, database: %s)",
            settings.host,
            settings.port,
            os.getpid(),
            settings.database_url.split("://")[0],
        )
        # uvicorn handles SIGINT/SIGTERM itself, then re-raises the signal when it has stopped; swallow
        # that echo so that the adapters below still close cleanly instead of being cancelled.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: None)
        # Everything built so far lives as long as the process: move it out of the collector's
        # sight, so that collections triggered by request garbage do not rescan it.
        gc.collect()
        gc.freeze()
        await uvicorn.Server(config).serve(sockets=[sock] if sock is not None else None)


def mcp_stdio(settings: Settings) -> None:
    from tesserra_mcp import run_stdio

    key = os.environ.get("TESSERRA_API_KEY", "")
    if not key:
        raise SystemExit("tesserra mcp: set TESSERRA_API_KEY to the API key to act as")

    async def main() -> None:
        async with running(settings) as uc:
            await uc.authenticate(key)  # refuse a bad key before serving anything
            async with uc.revocations.watching():
                await run_stdio(uc, key)

    _run(main)


def _with_facade(settings: Settings, work: Callable[[UseCases], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with running(settings) as uc:
            return await work(uc)

    return _run(main)


def main(argv: list[str] | None = None) -> None:
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
    args = parser.parse_args(argv)

    settings = Settings.from_env(
        host=getattr(args, "host", None), port=getattr(args, "port", None), workers=getattr(args, "workers", None)
    )
    _configure_logging(settings.log_level)
    try:
        _dispatch(args, settings)
    except TesserraError as exc:
        raise SystemExit(f"tesserra: {exc.message} ({exc.code})") from None


def _dispatch(args: argparse.Namespace, settings: Settings) -> None:
    from tesserra_core.domain.identity import Tier
    from tesserra_core.usecases.operators import KeyForUser, NewAdmin

    if args.command == "serve":
        _return_large_blocks_to_the_os()
        serve(settings, settings.workers)
    elif args.command == "mcp":
        mcp_stdio(settings)
    elif args.command == "db":
        from tesserra_adapters.bootstrap import upgrade_database

        upgrade_database(settings, args.revision)
        print(f"database at {args.revision}")
    elif args.command == "admin":
        password = args.password or os.environ.get("TESSERRA_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        tenant = _with_facade(
            settings,
            lambda uc: uc.create_admin(NewAdmin(email=args.email, password=password, tenant_name=args.tenant)),
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
        minted = _with_facade(settings, lambda uc: uc.mint_key_for_user(cmd))
        print(minted.key)


if __name__ == "__main__":
    main()
