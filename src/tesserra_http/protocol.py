"""uvicorn's httptools protocol with a bounded request head, so that no client can make the server
buffer (and re-copy) megabytes of headers before any route, guard or authentication runs.

httptools joins a header's pieces with ``bytes +=`` and hands it over only once complete, and uvicorn
keeps the URL the same way: unbounded, a 256 MiB header cost 90 s of one core and 650 MiB. Here the
bytes received while a request's head is incomplete are counted as they arrive; past the limits the
client gets the documented error body and the connection is closed:

- the whole head (request line and headers) over ``MAX_HEAD_BYTES``: 431 ``request_headers_too_large``;
- the request target (URL) over ``MAX_URL_BYTES``: 414 ``uri_too_long``;
- the trailers of a chunked body over ``MAX_HEAD_BYTES``: the connection is closed (the request is
  already being handled, so no answer can be sent);
- a head that has not arrived whole ``head_timeout`` seconds after the connection opened, or after
  its first byte on a kept-alive connection: 408 ``request_timeout`` (a client dribbling its headers
  a byte at a time held a connection, and its ~64 KiB, for as long as it liked).

A head that arrives in one read (nearly every request) costs an addition, a few comparisons and the calls of
the overridden callbacks.

It also hands the sandbox proxy's plain HTTP requests to the proxy as their head arrives
(``proxy.entry.ProxyEntry.direct``, when the app is served bare), which answers on the connection
directly (``proxy.direct``); those with nothing to wait for are answered on callbacks, without the
request's task (``ProxyEntry.inline``, told when the client goes or drains). A plain ``GET /ready`` or
``GET /health`` goes to ``probes.Probes.direct`` the same way.

This leans on uvicorn's internals (``data_received`` feeding ``self.parser`` and sending parser errors to
``send_400_response``, the ``on_headers_complete`` / ``on_body`` / ``on_message_complete`` callbacks,
``self.url``, ``self.headers``, ``self.cycle``, ``_start_asgi_task`` where each request's task starts,
``resume_writing``): pyproject pins uvicorn below the next minor release, and tests/cli/test_head_bounds.py
attacks the real server through it.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, ClassVar

import msgspec
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from tesserra_core.errors import error_body
from tesserra_http.context import new_request_id
from tesserra_http.probes import Probes
from tesserra_http.proxy.routing import PREFIX as PROXY_PREFIX

MAX_HEAD_BYTES = 64 * 1024
"""The request line and every header, as received (documented in the README)."""
MAX_URL_BYTES = 8 * 1024
"""The request target: path and query string."""
HEAD_TIMEOUT = 30.0
"""Seconds a request head may take to arrive (TESSERRA_HEAD_TIMEOUT; documented in the README)."""


class _HeadRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _uri_too_long() -> _HeadRefused:
    return _HeadRefused(414, "uri_too_long", f"the request URL is longer than {MAX_URL_BYTES} bytes")


def _head_too_large() -> _HeadRefused:
    return _HeadRefused(
        431,
        "request_headers_too_large",
        f"the request line and headers are larger than {MAX_HEAD_BYTES} bytes",
    )


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that refuses an oversized request head (431) or URL (414), or one too slow
    to arrive (408), then closes."""

    head_timeout: ClassVar[float] = HEAD_TIMEOUT

    @classmethod
    def with_head_timeout(cls, seconds: float) -> type[BoundedHttpToolsProtocol]:
        """The protocol class uvicorn builds per connection, holding heads to ``seconds``."""
        return type(cls.__name__, (cls,), {"head_timeout": seconds})

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_since: float | None = None
        """When the head being awaited started (the connection's start, or a later head's first byte)."""
        self._head_timer: asyncio.TimerHandle | None = None
        """One per connection, re-armed as it fires: a request costs a clock read, not a timer."""
        self._head_open = True
        """True from the end of a request (or the connection's start) until the next head is complete."""
        self._head_bytes = 0
        """Bytes received since the head opened: the head itself, or a little more (see on_headers_complete)."""
        self._refusal: _HeadRefused | None = None
        self._idle_since: float | None = None
        """When the connection's last response completed with no request after it (None while busy)."""
        self._keepalive_timer: asyncio.TimerHandle | None = None
        """One per connection, re-armed as it fires, in place of uvicorn's timer per response."""
        """Raised by a parser callback, answered when uvicorn reports the parser error it becomes."""
        self._app = self.app
        proxy = getattr(self.app, "proxy", None)
        self._proxy_direct: Any = proxy.direct if proxy is not None else None
        """The sandbox proxy's handler of plain HTTP requests (``ProxyEntry.direct``), when the app is
        served bare (no metrics, access log nor tracing wrapping it, which read ASGI messages)."""
        self._proxy_inline: Any = getattr(proxy, "inline", None)
        """Its answer on callbacks, without a task, of the requests it can take so (``ProxyEntry.inline``)."""
        self._exchange: Any = None
        """The exchange on callbacks of this connection's request (``proxy.inline.InlineExchange``), told
        when the client goes or drains; let go of once its response completes."""
        probes = getattr(self.app, "probes", None)
        self._probes_direct: Any = probes.direct if probes is not None else None
        """The answer to a plain GET /ready or /health (``probes.Probes.direct``), likewise."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_since = self.loop.time()
        self._head_timer = self.loop.call_later(self.head_timeout, self._check_head_time)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._exchange is not None:
            self._exchange.client_lost()
            self._exchange = None
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if self._keepalive_timer is not None:
            self._keepalive_timer.cancel()
            self._keepalive_timer = None
        super().connection_lost(exc)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._exchange is not None:
            self._exchange.writable()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        # A proxied request that needs no waiting is answered on callbacks, without the task
        if app is self._proxy_direct and self._proxy_inline is not None:
            in_task = functools.partial(HttpToolsProtocol._start_asgi_task, self, cycle, app)
            exchange = self._proxy_inline(cycle, in_task)
            if exchange is not None:
                self._exchange = exchange
                return
        super()._start_asgi_task(cycle, app)

    def _unset_keepalive_if_required(self) -> None:
        # uvicorn cancels its keep-alive timer on every read and arms a new one after every response
        # (a timer made and cancelled per request): here the connection is marked busy, and its one
        # timer (``_check_keepalive``) judges the idle time when it fires.
        self._idle_since = None

    def on_response_complete(self) -> None:
        # uvicorn's, but the keep-alive clock starts instead of a new timer
        if self._exchange is not None and self._exchange.over:
            self._exchange = None  # an idle connection holds no finished request
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._idle_since = None
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self._keepalive_timer is None:
            self._keepalive_timer = self.loop.call_later(self.timeout_keep_alive, self._check_keepalive)

    def _check_keepalive(self) -> None:
        """Closes a connection idle (no byte since its last response) for ``timeout_keep_alive``."""
        self._keepalive_timer = None
        if self.transport.is_closing():
            return
        since = self._idle_since
        if since is None:  # busy: the next response starts the clock again
            return
        left = since + self.timeout_keep_alive - self.loop.time()
        if left <= 0:
            self.transport.close()
        else:
            self._keepalive_timer = self.loop.call_later(left, self._check_keepalive)

    def data_received(self, data: bytes) -> None:
        if not self._head_open:  # a body: uvicorn's own path
            super().data_received(data)
            return
        if self._head_since is None:  # the first bytes of a head on a kept-alive connection
            self._head_since = self.loop.time()
        self._head_bytes += len(data)
        super().data_received(data)
        if self._head_open and self._head_bytes > MAX_HEAD_BYTES:
            self._refuse(self._head_refusal())

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers every parser error with a 400, among them the one that wraps a refusal
        # raised in on_headers_complete below: answer that refusal instead.
        refused, self._refusal = self._refusal, None
        if refused is not None:
            self._refuse(refused)
        else:
            super().send_400_response(msg)

    def on_headers_complete(self) -> None:
        if len(self.url) > MAX_URL_BYTES:
            raise self._refuse_later(_uri_too_long())
        # _head_bytes counts whole reads, so it may include the start of a body that came in the same
        # read as the end of the head: only then is the head measured exactly (as parsed).
        if self._head_bytes > MAX_HEAD_BYTES and self._parsed_head_bytes() > MAX_HEAD_BYTES:
            raise self._refuse_later(_head_too_large())
        self._head_open = False
        self._head_bytes = 0
        self._head_since = None
        direct = None
        if self._proxy_direct is not None and self.url.startswith(PROXY_PREFIX) and not self.parser.should_upgrade():
            direct = self._proxy_direct  # the sandbox proxy's plain request
        elif (
            self._probes_direct is not None
            and self.url in Probes.TARGETS
            and self.parser.get_method() == b"GET"
            and not self.parser.should_upgrade()
        ):
            direct = self._probes_direct  # a load balancer's or orchestrator's probe
        if direct is not None:
            # its response goes straight onto this connection
            self.app = direct
            try:
                super().on_headers_complete()
            finally:
                self.app = self._app
            return
        super().on_headers_complete()

    def on_chunk_header(self) -> None:
        # A chunked body: what follows a chunk's size line is its data (on_body below ends the count)
        # or, after the last one, trailers, which httptools gathers like headers: counted as a head.
        self._head_open = True
        self._head_bytes = 0

    def on_body(self, body: bytes) -> None:
        self._head_open = False
        self._head_since = None
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._head_open = True
        self._head_bytes = 0
        self._head_since = None  # the next head's clock starts with its first byte
        super().on_message_complete()

    def _check_head_time(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        since = self._head_since
        left = (
            self.head_timeout if since is None or not self._head_open else since + self.head_timeout - self.loop.time()
        )
        if left <= 0:
            message = f"the request head did not arrive within {self.head_timeout:g} s"
            self._refuse(_HeadRefused(408, "request_timeout", message))
        else:
            self._head_timer = self.loop.call_later(left, self._check_head_time)

    def _parsed_head_bytes(self) -> int:
        # "METHOD URL HTTP/1.1\r\n", then "name: value\r\n" per header, then "\r\n"
        line = len(self.url) + 24
        return line + sum(len(name) + len(value) + 4 for name, value in self.headers) + 2

    def _head_refusal(self) -> _HeadRefused:
        return _uri_too_long() if len(getattr(self, "url", b"")) > MAX_URL_BYTES else _head_too_large()

    def _refuse_later(self, refused: _HeadRefused) -> _HeadRefused:
        self._refusal = refused
        return refused

    def _refuse(self, refused: _HeadRefused) -> None:
        self._head_open = False  # nothing more is read from this connection
        if self.transport.is_closing():
            return
        if self.cycle is not None and (self.cycle.more_body or not self.cycle.response_complete):
            # trailers of a request being handled, or a response still being written: no answer
            # can be slipped in
            self.transport.close()
            return
        request_id = new_request_id()
        body = msgspec.json.encode(error_body(refused.message, refused.code, request_id))
        head = [STATUS_LINE[refused.status]]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"x-request-id: " + request_id.encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
