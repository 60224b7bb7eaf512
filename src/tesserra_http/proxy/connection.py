"""One HTTP/1.1 connection from the proxy to a sandbox: an asyncio protocol that parses responses with
httptools (llhttp, the parser the server side uses too), and the request head it writes.

Lean on purpose: one write for a request without a body (its head), the response's pieces handed on
as they are parsed, no per-request objects beyond the head's bytes. Both directions keep back-pressure:
the request body is written piece by piece, each write waiting while the socket's buffer is full
(``pause_writing``); the response body is buffered up to ``HIGH_WATER`` bytes, then reading from the
sandbox pauses until the proxy's client has taken what was read. The pool that holds connections
between exchanges is ``upstream``."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import TYPE_CHECKING

import httptools

from tesserra_core.domain.addresses import authority

if TYPE_CHECKING:
    from tesserra_http.proxy.upstream import UpstreamPool

HIGH_WATER = 256 * 1024
"""Response bytes read from a sandbox and not yet handed to the client, above which reading pauses."""

Headers = list[tuple[bytes, bytes]]


class UpstreamBroke(ConnectionError):
    """The sandbox closed the connection, or sent something that is not the answer to the request."""


class Connection(asyncio.Protocol):
    """One connection to a sandbox, one exchange at a time."""

    def __init__(self, pool: UpstreamPool, key: tuple[str, int]) -> None:
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._write_paused = False
        self.listener: Callable[[], None] | None = None
        """Called after each read from the sandbox and when the connection closes, in place of waking
        a waiting exchange (``inline``'s, which runs on callbacks)."""
        self._reset()

    def _reset(self) -> None:
        self.open = False
        """An exchange is under way (bytes may come)."""
        self.status = 0
        self.headers: Headers = []
        self.head_seen = False
        self.complete = False
        self.keep_alive = False
        self.any_byte = False
        self.error: BaseException | None = None
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self._reading_paused = False
        self._head_only = False
        self._until_close = False
        self._informational = False

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.open or self.complete:
            self._broke("the sandbox sent bytes no request asked for")
            return
        self.any_byte = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:  # the upgrade exception too (nothing here asks for one)
            self._broke(f"the sandbox's answer is not HTTP/1.1: {exc}")
        if self.listener is not None:  # after the parser, never from inside it
            self.listener()

    def eof_received(self) -> bool:
        return False  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.open and not self.complete and self.error is None:
            if self._until_close and self.head_seen:
                self.complete = True  # a body without length ends with the connection
            else:
                self.error = UpstreamBroke("the sandbox closed the connection")
        self._wake()
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)
        self.pool.forget(self)
        if self.listener is not None:
            self.listener()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    # ------------------------------------------------------------------ httptools callbacks

    def on_message_begin(self) -> None:
        if self.head_seen:
            raise UpstreamBroke("the sandbox sent a second response")  # feed_data raises HttpParserCallbackError

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:
            if status == 101:
                raise UpstreamBroke("the sandbox switched protocols unasked")
            self.headers = []  # informational (100, 103): dropped, the final response follows
            self._informational = True
            return
        self.status = status
        self.head_seen = True
        if self._head_only:
            self.complete = True  # no body follows; the parser cannot be told, so the connection is not kept
        elif status not in (204, 304):
            self._until_close = True
            for name, _ in self.headers:
                low = name.lower()
                if low == b"content-length" or low == b"transfer-encoding":
                    self._until_close = False
                    break
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        if self._head_only:
            return
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive() and not self._until_close
        self._wake()

    # ------------------------------------------------------------------ the exchange

    def _broke(self, why: str) -> None:
        if self.error is None and not self.complete:
            self.error = UpstreamBroke(why)
        self.abort()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self) -> None:
        self._waiter = self.pool.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def begin(self, head: bytes, head_only: bool) -> None:
        """Sends the request's head (and with it a request without a body, whole)."""
        self.open = True
        self._head_only = head_only
        assert self.transport is not None
        self.transport.write(head)

    async def write(self, data: bytes | list[bytes]) -> None:
        """A piece of the request body, waiting while the sandbox is slower to read than the client sends."""
        if self.closed:
            raise UpstreamBroke("the sandbox closed the connection")
        assert self.transport is not None
        if isinstance(data, list):
            self.transport.writelines(data)
        else:
            self.transport.write(data)
        if self._write_paused:
            self._drained = self.pool.loop.create_future()
            await self._drained
            if self.closed:
                raise UpstreamBroke("the sandbox closed the connection")

    async def head(self) -> None:
        """Until the response's status and headers are in (``status``, ``headers``)."""
        while not self.head_seen:
            if self.error is not None:
                raise self.error
            if self.closed:
                raise UpstreamBroke("the sandbox closed the connection")
            await self._wait()

    def take(self) -> bytes | None:
        """The response body read so far and not yet taken (all of it, as one piece), if any."""
        chunks = self.chunks
        if not chunks:
            return None
        piece = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.buffered = 0
        if self._reading_paused and not self.closed and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        return piece

    async def piece(self) -> bytes | None:
        """The response body read so far and not yet taken (all of it, as one piece); None at its end.
        Raises ``UpstreamBroke`` if the sandbox broke off before the end."""
        while True:
            piece = self.take()
            if piece is not None:
                return piece
            if self.complete:
                return None
            if self.error is not None:
                raise self.error
            if self.closed:
                raise UpstreamBroke("the sandbox closed the connection")
            await self._wait()

    @property
    def drained(self) -> bool:
        """Everything read has been taken and the response is whole."""
        return self.complete and not self.chunks


def request_head(
    method: str, target: str, host: str, port: int, headers: Headers, *, host_header: bytes | None = None
) -> bytes:
    """The request line, Host (the sandbox's address, as the stored state says; or ``host_header``,
    the client's own, toward a node that proxies it on) and ``headers``.
    Raises ``ValueError`` if any part would break the framing (a control character or line break)."""
    named = authority(host, port).encode("latin-1") if host_header is None else host_header
    head = b"".join(
        [
            f"{method} {target} HTTP/1.1\r\nhost: ".encode("latin-1"),
            named,
            b"\r\n",
            *[b"%s: %s\r\n" % (name, value) for name, value in headers],
            b"\r\n",
        ]
    )
    # Every line ends with CRLF and nothing else may hold a CR or LF (nor any other control but a
    # tab); the target holds no blank. The server's parser refused all of these already: a second
    # lock, in one pass: the head's own line ends are the only controls it may hold.
    lines = len(headers) + 3
    if len(head) - len(head.translate(None, _CONTROL)) != 2 * lines or " " in target or "\t" in target:
        raise ValueError("a request part would break the framing")
    return head


_CONTROL = bytes(range(32)).replace(b"\t", b"") + b"\x7f"
"""Every control byte but the tab (CR and LF among them)."""
