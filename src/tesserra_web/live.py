"""Live status over server-sent events: a page names a stream (``data-live``), console.js opens it and swaps
each fragment it receives into the element of the same id, inside that page's live region.

The core has no change notification for resources or installations, so a stream reads what it shows through
the same use cases as the page, every ``LiveLimits.every`` seconds, as the signed-in viewer (so it holds only
what the viewer may see, of their tenant), and sends a fragment when its HTML changed. The streams of one URL
and one viewer (several tabs on the same project) share that read: one per interval (``SharedReads``).

A stream needs the console session when it opens and checks it again every ``recheck`` seconds (a session
signed out, revoked or whose role changed ends it); it ends when the client goes away (Litestar's stream
cancels it), when the hosting server drains, when what it follows is gone (404) and after ``lifetime``
seconds: then the browser's EventSource opens a new one, which passes every check again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any

from litestar import Request, Response

from tesserra_core.domain.identity import ConsoleSession, Principal
from tesserra_core.errors import TesserraError
from tesserra_driver_support.event_stream import sse_stream
from tesserra_web.web import Console, SignInRequired

AnyRequest = Request[Any, Any, Any]
RETRY_MS = 3000
"""How long the browser waits before it opens a new stream after one ended."""

Snapshot = Callable[[Principal], Awaitable[dict[str, str]]]
"""What a stream shows, read as the viewer: element id -> that element's HTML."""


def frame(target: str, html: str) -> bytes:
    """One event: the element's id and its new HTML, as JSON on one ``data:`` line."""
    return b"data: " + json.dumps({"id": target, "html": html}, separators=(",", ":")).encode() + b"\n\n"


async def live(console: Console, request: AnyRequest, snapshot: Snapshot) -> Response[Any]:
    """The stream of ``snapshot``'s changes; 401 without a console session (EventSource then gives up)."""
    try:
        session, actor = await console.signed_in(request)
    except SignInRequired:
        return Response(b"", status_code=401, headers={"Cache-Control": "no-store"})
    first = await snapshot(actor)  # a 404 (another tenant's object) is the page's 404, before the stream starts
    key = (request.url.path, request.url.query, actor)  # what it shows, and to whom
    return sse_stream(changes(console, session, actor, snapshot, first, key))


async def changes(
    console: Console,
    session: ConsoleSession,
    actor: Principal,
    snapshot: Snapshot,
    current: dict[str, str],
    key: Hashable | None = None,
) -> AsyncIterator[bytes]:
    """The stream's bytes: its retry delay, then each fragment that changed from ``current`` on, until it ends.
    Streams of the same ``key`` share their reads (without one, the stream reads for itself)."""
    limits = console.live
    loop = asyncio.get_running_loop()
    started = checked = quiet = loop.time()
    yield f"retry: {RETRY_MS}\n\n".encode()
    sent: dict[str, str] = {}
    with console.reads.watching(object() if key is None else key) as shared_read:
        while True:
            for target, html in current.items():
                if sent.get(target) != html:
                    yield frame(target, html)
                    quiet = loop.time()
            sent = current
            if loop.time() - quiet >= limits.keepalive:
                yield b": still here\n\n"
                quiet = loop.time()
            await asyncio.sleep(limits.every)
            now = loop.time()
            if console.draining() or now - started >= limits.lifetime:
                return
            if now - checked >= limits.recheck:
                checked = now
                if not await _still_signed_in(console, session, actor):
                    return
            try:
                current = await shared_read(lambda: snapshot(actor), limits.every)
            except TesserraError:  # what it followed is gone (404), or the viewer may no longer read it
                return


async def _still_signed_in(console: Console, session: ConsoleSession, actor: Principal) -> bool:
    """The session's login still stands, with the same role and tenant (else the browser's next stream
    rotates the session or goes to the sign-in page)."""
    try:
        now = await console.sessions.principal(session)
    except TesserraError:
        return False
    return now.role is actor.role and now.tenant_id == actor.tenant_id
