"""The /mcp endpoint to mount in an HTTP server: API-key auth in front, the MCP SDK behind it.

The SDK (and pydantic, starlette, ...) is imported, and its session manager started, on the
first authenticated request, not at start-up: a server nobody drives over MCP never pays the
~20 MB and ~0.6 s it costs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec

from tesserra_core.errors import TesserraError, error_body
from tesserra_core.facade import UseCases

ACTOR = "tesserra.actor"
REQUEST_ID = "tesserra.request_id"
"""Keys of the ASGI scope through which the endpoint hands the caller and request id to the tools."""

ASGIApp = Callable[[dict[str, Any], Any, Any], Any]


class McpEndpoint:
    """An ASGI app serving MCP over streamable HTTP; ``lifespan()`` must span the hosting server's life."""

    def __init__(
        self,
        uc: UseCases,
        *,
        allowed_hosts: tuple[str, ...] = (),
        request_id: Callable[[], str | None] | None = None,
        stateless: bool = False,
    ) -> None:
        """``request_id`` gives the id the hosting server assigned to the current request (echoed
        or generated), so that a refusal's body names the id its X-Request-Id header carries.
        ``stateless``: legacy clients get no session either (see ``http_app``)."""
        self._uc = uc
        self._allowed_hosts = allowed_hosts
        self._stateless = stateless
        self._request_id = request_id
        self._app: ASGIApp | None = None
        self._starting = asyncio.Lock()
        self._stop = asyncio.Event()
        self._sessions: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if self._sessions is not None:
                self._stop.set()
                await self._sessions

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await (await self._started())(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = (self._request_id() if self._request_id is not None else None) or headers.get("x-request-id")
        scope[REQUEST_ID] = request_id
        try:
            scope[ACTOR] = await self._uc.authenticate.from_headers(scope["headers"])
        except TesserraError as exc:
            await _send_error(send, exc, request_id)
            return
        await (await self._started())(scope, receive, send)

    async def _started(self) -> ASGIApp:
        if self._app is not None:
            return self._app
        async with self._starting:
            if self._app is None:
                from tesserra_mcp.server import build_server, http_app

                server = build_server(self._uc)
                app = http_app(server, self._allowed_hosts, stateless=self._stateless)
                ready = asyncio.Event()

                async def serve_sessions() -> None:
                    async with server.session_manager.run():
                        ready.set()
                        await self._stop.wait()

                self._sessions = asyncio.create_task(serve_sessions())
                waiting = asyncio.create_task(ready.wait())
                await asyncio.wait({self._sessions, waiting}, return_when=asyncio.FIRST_COMPLETED)
                if not ready.is_set():
                    waiting.cancel()
                    self._sessions.result()  # raises why the session manager could not start
                self._app = app
        return self._app


async def _send_error(send: Any, exc: TesserraError, request_id: str | None) -> None:
    """What authentication failed with, as the HTTP error body (this endpoint stands alone)."""
    status = exc.status
    body = msgspec.json.encode(error_body(exc.message, exc.code, request_id))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="tesserra"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
