"""How ``tesserra serve`` runs: the event loop, the prefork supervisor and its workers, and the
process tuning behind the throughput that bench/run.py measures.

Each trick, and what it is for:
- uvloop under an ``asyncio.Runner`` with httptools (``BoundedHttpToolsProtocol``), no access log:
  the configuration bench/README.md's "ceiling" (a) is measured with, so our routes are compared
  with the fastest bare app this stack can serve.
- No cyclic collection during start-up (``tesserra_http.cli`` turns the collector off before the
  imports), then ``gc.freeze()`` and the collector back on: everything built before the first
  request lives as long as the process, so collections set off by per-request garbage never scan it.
- ``mallopt(M_MMAP_THRESHOLD, 1 MiB)``: each argon2id verify (19 MiB, in a worker thread) is mmap'd
  and given back to the OS when freed, so a burst of logins does not leave its buffers resident
  in glibc's per-thread arenas.
- Several workers: the supervisor binds the socket (backlog 2048), migrates and creates the first
  owner once, then forks workers that share the socket; each dies with the supervisor.

Operations: with a metrics token, every process writes its metrics into this run's directory (emptied
at start; a dead worker's live gauges are dropped as it is reaped). SIGTERM drains: /ready answers 503
at once, accepting stops ``drain_delay`` seconds later, in-flight requests and streams get
``drain_grace`` seconds, then the runners stop and the process exits 0. SIGINT stops at once.
"""

from __future__ import annotations

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
from collections.abc import Callable, Coroutine
from typing import Any

from tesserra_adapters.bootstrap import forget_worker_metrics, prepare_metrics, running
from tesserra_adapters.settings import Settings
from tesserra_core.domain.addresses import authority
from tesserra_core.facade import UseCases

log = logging.getLogger("tesserra")


def return_large_blocks_to_the_os() -> None:
    """glibc keeps freed blocks in per-thread arenas: each argon2id verify (19 MiB, run in a worker
    thread) would leave its buffer resident for good. Blocks of 1 MiB and more are mmap'd instead,
    so they go back to the OS when freed. No-op off glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def run_loop(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


async def _first_owner(uc: UseCases, settings: Settings) -> None:
    password = settings.bootstrap_password or secrets.token_urlsafe(12)
    if await uc.operators.ensure_first_owner(settings.bootstrap_email, password):
        shown = "from TESSERRA_BOOTSTRAP_PASSWORD" if settings.bootstrap_password else password
        print(
            f"First start: created tenant 'Default' with owner {settings.bootstrap_email} "
            f"(platform admin), password: {shown}\n(this is the only time it is shown)",
            file=sys.stderr,
            flush=True,
        )


def console_url(settings: Settings) -> str:
    """Where a browser on this machine opens the console (a wildcard bind is reached on loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(settings.host, settings.host)  # noqa: S104
    return f"http://{authority(host, settings.port)}/console/"


def _announce_console(settings: Settings) -> None:
    """The console's URL for the person who started the server, on a line of its own; with JSON logs,
    a log line like every other (a plain line would break the stream a collector parses). Console sessions
    live in the database: any number of workers serve them."""
    line = f"Console: {console_url(settings)}"
    if settings.log_format == "json":
        log.info(line)
    else:
        print(line, file=sys.stderr, flush=True)


def serve(settings: Settings, workers: int = 1) -> None:
    """Serve on ``settings.host:port``. With several workers, the parent binds the socket, migrates
    and creates the first owner once, then forks the workers that share the socket."""
    metrics = prepare_metrics(settings)
    if workers <= 1:
        run_loop(lambda: _serve_worker(settings, None, first_start=True))
        return
    sock = socket.create_server((settings.host, settings.port), reuse_port=False, backlog=2048)
    run_loop(lambda: _prepare(settings, workers))  # measures nothing: only workers write metrics
    children: list[int] = []
    supervisor = os.getpid()
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the worker process
            _die_with(supervisor)
            os.setpgid(0, 0)  # signals come from the supervisor only, once
            code = 0
            try:
                run_loop(lambda: _serve_worker(settings, sock, first_start=False))
            except BaseException:
                log.exception("worker failed")
                code = 1
            os._exit(code)
        children.append(pid)
    sock.close()
    gc.enable()
    _supervise(children, metrics=metrics)


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


async def _prepare(settings: Settings, workers: int) -> None:
    async with running(settings) as uc:
        await _first_owner(uc, settings)
    _announce_console(settings)


def _supervise(children: list[int], *, metrics: bool) -> None:
    """Forward SIGINT and SIGTERM to the workers; reap each as it exits (dropping its live gauges);
    exit 1 if any failed."""
    alive = set(children)

    def forward(signum: int, _frame: object) -> None:
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    failed = False
    while alive:
        pid, status = os.wait()
        if pid not in alive:
            continue
        alive.discard(pid)
        if metrics:
            forget_worker_metrics(pid)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            log.error("worker %s exited with %s", pid, code)
            failed = True
    if failed:
        raise SystemExit(1)


async def _serve_worker(settings: Settings, sock: socket.socket | None, *, first_start: bool) -> None:
    import uvicorn

    from tesserra_http.app import create_app
    from tesserra_http.draining import DrainingServer
    from tesserra_http.observed import ObservedApp
    from tesserra_http.protocol import BoundedHttpToolsProtocol
    from tesserra_http.readiness import Readiness

    # Until uvicorn's own handlers are in place, SIGINT and SIGTERM are kept for it (a worker told to
    # stop while starting drains once it serves). uvicorn raises them again when it has stopped:
    # kept again then, so that the adapters below still close cleanly instead of being cancelled.
    early: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda received, _frame: early.append(received))
    async with running(settings, metrics=True) as uc:
        if first_start:
            await _first_owner(uc, settings)
            _announce_console(settings)
        readiness = Readiness()
        app = create_app(
            uc,
            allowed_hosts=settings.allowed_hosts,
            trusted_proxies=settings.trusted_proxies,
            proxy_header=settings.proxy_header,
            readiness=readiness,
            metrics_token=settings.metrics_token,
            mcp_stateless=settings.mcp_stateless,
        )
        log_access = settings.log_format == "json"
        telemetry = uc.ports.telemetry
        served: Any = ObservedApp(app, telemetry, log_access=log_access) if telemetry.enabled or log_access else app
        if uc.ports.tracer.enabled:
            from tesserra_http.traced import TracedApp

            served = TracedApp(served, uc.ports.tracer)
        config = uvicorn.Config(
            served,
            host=settings.host,
            port=settings.port,
            log_config=None,
            http=BoundedHttpToolsProtocol.with_head_timeout(settings.head_timeout),
            access_log=False,
            lifespan="on",
            proxy_headers=False,
            timeout_graceful_shutdown=settings.drain_grace,
        )
        log.info(
            "Tesserra listening on http://%s:%s (pid %s, database: %s)",
            settings.host,
            settings.port,
            os.getpid(),
            settings.database_url.split("://")[0],
        )
        # Everything built so far lives as long as the process: move it out of the collector's
        # sight, so that collections triggered by request garbage do not rescan it.
        gc.collect()
        gc.freeze()
        gc.enable()
        await DrainingServer(config, readiness, settings.drain_delay, early).serve(
            sockets=[sock] if sock is not None else None
        )
