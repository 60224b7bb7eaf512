"""A plain proxied request answered on callbacks: no task, no coroutine, no future.

Most proxied requests are a request without a body, to a sandbox this worker proxied to a moment ago,
with a token it checked against the very read of the sandbox it still holds. The server protocol
(``protocol``) hands such a request over as its head arrives (``ProxyEntry.inline``); its head goes
out at once on a kept-alive connection to the sandbox, and the connection's own callbacks
(``Connection.listener``) write the answer to the client as it is read. A task per request, its
coroutines, their awaits and the future each waited on cost far more of the server's CPU than the
proxying itself (bench/README.md, "Sandboxes and the runtime proxy").

Everything else takes the task's way (``ProxyEntry.direct``): a body, a token in the query (exchanged
once), the caller's own credentials, a sandbox on another node, no idle connection to the sandbox, a
check to make in full (the sandbox to read again, a token not seen before), a WebSocket. The checks,
the headers and the writes are the same code either way (``OpenProxy``, ``headers``, ``direct``); what
the task's way does around them is done here by callbacks:

- the response streams with back-pressure: nothing is taken from the sandbox's connection while the
  client's side is full (the connection stops reading past its high water), and taking resumes when
  the client drains (``writable``);
- a client gone closes the sandbox's connection and ends the exchange (``client_lost``);
- the watch's cut (a revocation, the sandbox stopping): 401 ``proxy_token_revoked`` before the
  response began, else the client's connection closed, the body unfinished;
- the sandbox breaking off before its answer: on the kept-alive connection that got no byte back, the
  request takes the task's way, which sends it once more on a new connection (as ``UpstreamPool``
  does); with bytes back, 502 ``sandbox_unreachable``; after the answer began, the client's connection
  closed;
- the idle clock's activity and the watch, entered at the start and left at the end;
- an unexpected error: logged, 500 if nothing was sent, else the connection closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, cast

from litestar.types import Send

from tesserra_core.usecases.runtime_views import ProxyTarget
from tesserra_http.context import request_id_var
from tesserra_http.errors import send_core_error, send_error
from tesserra_http.proxy import revoked
from tesserra_http.proxy.connection import Connection
from tesserra_http.proxy.direct import DirectSend
from tesserra_http.proxy.forward import unreachable
from tesserra_http.proxy.headers import to_client

if TYPE_CHECKING:
    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

    from tesserra_core.usecases.runtime_proxy import Runtime
    from tesserra_http.proxy.upstream import UpstreamPool

log = logging.getLogger("tesserra.proxy")


class InlineExchange:
    """One proxied request whose head went out on ``conn``; ``send`` writes onto the client's
    connection (``cycle``'s); ``again`` hands the request to the task's way."""

    __slots__ = ("again", "conn", "cycle", "during", "over", "pool", "request_id", "send", "target", "watched")

    def __init__(
        self,
        cycle: RequestResponseCycle,
        send: DirectSend,
        pool: UpstreamPool,
        conn: Connection,
        target: ProxyTarget,
        runtime: Runtime,
        request_id: str,
        again: Callable[[], None],
    ) -> None:
        self.cycle = cycle
        self.send = send
        self.pool = pool
        self.conn = conn
        self.target = target
        self.request_id = request_id
        self.again = again
        self.over = False
        self.during = runtime.activity.during(target)
        self.watched = runtime.watch.watching(target, self.cut)

    def start(self, head: bytes, head_only: bool) -> None:
        self.during.__enter__()
        self.watched.__enter__()
        self.conn.listener = self.progress
        self.conn.begin(head, head_only)

    # ------------------------------------------------------------------ events

    def progress(self) -> None:
        """The sandbox's connection read something, or closed."""
        if self.over:
            return
        try:
            self._progress()
        except Exception:
            log.exception("unhandled error")
            self._fail(lambda send: send_error(send, 500, "internal server error", "internal_error"))

    def writable(self) -> None:
        """The client's side drained."""
        self.progress()

    def client_lost(self) -> None:
        self._end(whole=False)

    def cut(self) -> None:
        """The watch's: what let the request in has ended."""
        if not self.over:
            self._fail(lambda send: send_core_error(send, revoked()))

    # ------------------------------------------------------------------ the exchange

    def _progress(self) -> None:
        conn, cycle, send = self.conn, self.cycle, self.send
        if not cycle.response_started:
            if not conn.head_seen:
                if conn.closed or conn.error is not None:
                    self._unanswered()
                return
            send._start(cycle, conn.status, to_client(conn.headers), later=False)
        while not cycle.flow.write_paused:
            piece = conn.take()
            if conn.complete:  # all of it taken: the exchange ends with this write
                self._end(whole=True)  # first: the write below may start the connection's next request
                send._body(cycle, piece or b"", False)
                return
            if piece is None:
                break
            send._body(cycle, piece, True)
        send._flush()  # the head, if no piece took it along
        if conn.closed or conn.error is not None:  # the sandbox broke off: the response ends early
            self._end(whole=False)
            cycle.transport.close()

    def _unanswered(self) -> None:
        """The sandbox's connection closed or failed before the response's head."""
        if not self.conn.any_byte:  # a kept-alive connection the sandbox closed as the request went out
            self._end(whole=False)
            self.again()
        else:
            self._fail(lambda send: send_core_error(send, unreachable(self.target)))

    def _fail(self, answer: Callable[[Send], Coroutine[Any, Any, None]]) -> None:
        """Ends the exchange: ``answer`` written if the response has not begun, else the client's
        connection closed."""
        started = self.cycle.response_started
        self._end(whole=False)
        if started:
            self.cycle.transport.close()
            return
        token = request_id_var.set(self.request_id)  # the error body's (the task copies the context)
        try:
            task = self.send.loop.create_task(answer(cast(Send, self.send)))
        finally:
            request_id_var.reset(token)
        _ANSWERING.add(task)
        task.add_done_callback(_ANSWERING.discard)

    def _end(self, *, whole: bool) -> None:
        if self.over:
            return
        self.over = True
        self.conn.listener = None
        self.pool.done(self.conn, None, whole=whole)
        self.watched.__exit__(None, None, None)
        self.during.__exit__(None, None, None)


_ANSWERING: set[asyncio.Task[None]] = set()
"""The error answers being written (held: the loop keeps only weak references to tasks)."""
