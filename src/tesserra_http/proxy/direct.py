"""The proxy's responses written straight onto the server's connection, for ``tesserra serve``.

uvicorn's ``send`` checks every header of every message against two regular expressions, copies the
default headers and works out the framing again on each call: on a proxied 1 KiB GET that was about
a tenth of the server's CPU. The proxy knows what it sends (its own error bodies, or the sandbox's
head as ``headers.to_client`` passed it, names lowercased and values checked there), so this writes
it directly, and keeps what the server protocol relies on exactly as uvicorn's ``send`` keeps it:
``response_started`` / ``response_complete``, the message event, ``keep_alive`` (``connection:
close`` when the request asked for it), the write flow control (waits while the client reads
slowly), a client gone (nothing written), the Content-Length or chunked framing, no body on HEAD,
204 and 304, and ``on_response`` (which starts the next pipelined request or arms the keep-alive
timer).

The protocol (``tesserra_http.protocol``) hands a proxied plain HTTP request to ``ProxyEntry.direct``
only when nothing wraps the app (no metrics, access log nor tracing, which read ASGI messages: with
them the request takes the ASGI path). It leans on uvicorn's ``RequestResponseCycle`` attributes,
like the protocol does (pinned in pyproject)."""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, RequestResponseCycle

_NO_BODY = frozenset({204, 304})


def _status_line(status: int) -> bytes:
    line = STATUS_LINE.get(status)
    if line is None:  # a status the standard library does not name, which a sandbox may send
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        line = b"HTTP/1.1 %d %s\r\n" % (status, phrase.encode("latin-1"))
    return line


class DirectSend:
    """An ASGI ``send`` for one proxied HTTP response, writing to ``cycle``'s transport. ``own`` is the
    header the server adds to every answer (``X-Request-Id``); ``loop`` the connection's (held, not
    asked for: ``asyncio.get_running_loop()`` is a system call on Python 3.11)."""

    __slots__ = ("chunked", "cycle", "head_only", "loop", "own", "pending")

    def __init__(self, cycle: RequestResponseCycle, own: bytes, loop: asyncio.AbstractEventLoop) -> None:
        self.cycle = cycle
        self.own = own
        self.loop = loop
        self.head_only = cycle.scope["method"] == "HEAD"
        self.chunked = False
        self.pending = b""
        """The response's head, written with the first piece of its body when that follows at once
        (one write, one system call, for most answers), else on the loop's next turn (``_flush``):
        a stream's head never waits for its first event."""

    @property
    def started(self) -> bool:
        return self.cycle.response_started

    async def __call__(self, message: dict[str, Any]) -> None:
        cycle = self.cycle
        if cycle.flow.write_paused and not cycle.disconnected:
            await cycle.flow.drain()
        if cycle.disconnected:
            return
        if not cycle.response_started:
            if message["type"] != "http.response.start":
                raise RuntimeError(f"expected http.response.start, got {message['type']}")
            self._start(cycle, message["status"], message.get("headers", ()))
        elif not cycle.response_complete:
            if message["type"] != "http.response.body":
                raise RuntimeError(f"expected http.response.body, got {message['type']}")
            self._body(cycle, message.get("body", b""), message.get("more_body", False))
        else:
            raise RuntimeError(f"{message['type']} sent after the response completed")

    def _start(self, cycle: RequestResponseCycle, status: int, headers: Any, *, later: bool = True) -> None:
        """The head, held for the body's first piece; ``later``: written on the loop's next turn if
        none comes first (else the caller writes it, ``_flush``)."""
        cycle.response_started = True
        cycle.waiting_for_100_continue = False
        content = [_status_line(status)]
        for name, value in cycle.default_headers:
            content += (name, b": ", value, b"\r\n")
        framed = False
        for name, value in headers:
            if name == b"content-length" or name == b"transfer-encoding":
                framed = True
            content += (name, b": ", value, b"\r\n")
        content.append(self.own)
        if not cycle.keep_alive:
            content.append(b"connection: close\r\n")
        if not framed and not self.head_only and status not in _NO_BODY:
            self.chunked = True
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(b"\r\n")
        self.pending = b"".join(content)
        if later:
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        pending, self.pending = self.pending, b""
        if pending and not self.cycle.disconnected:
            self.cycle.transport.write(pending)

    def _body(self, cycle: RequestResponseCycle, body: bytes, more: bool) -> None:
        pending, self.pending = self.pending, b""
        if self.head_only or not body:
            framed = [pending] if pending else []
        elif self.chunked:
            framed = [pending, b"%x\r\n" % len(body), body, b"\r\n"]
        else:
            framed = [pending, body]
        if not more and self.chunked and not self.head_only:
            framed.append(b"0\r\n\r\n")
        if framed:
            cycle.transport.writelines(framed)  # one system call (uvloop gathers them), no copy
        if not more:
            cycle.response_complete = True
            cycle.message_event.set()
            if not cycle.keep_alive:
                cycle.transport.close()
            cycle.on_response()
