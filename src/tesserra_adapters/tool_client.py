"""MCP client sessions to installed servers, over a workload's stdio (the runtime's ``StdioChannel``).

The SDK's ``ClientSession`` reads and writes ``SessionMessage`` objects on anyio memory streams;
``stdio_client`` builds those streams over a subprocess's pipes. Here two pumps build them over a
``StdioChannel`` instead (one JSON-RPC message per line, as MCP's stdio transport frames them), so
the same session runs whether the server is a local process or a container.

A session lives in a task of its own (anyio task groups must be left by the task that entered
them): ``connect`` starts it, waits for the handshake, and ``aclose`` ends it. MCP errors become
core errors here: a timeout is ``Unavailable`` (``tool_call_timeout``), a closed connection is
``Unavailable`` (``tool_server_gone``), arguments the SDK cannot encode (the core bounds them first,
see ``tesserra_core.domain.jsonbounds``) are ``ValidationFailed`` (``invalid_arguments``) and never
end the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp import ClientSession
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from tesserra_core.domain.tools import ToolInfo
from tesserra_core.errors import Unavailable, Unprocessable, ValidationFailed
from tesserra_core.ports.runtime import StdioChannel
from tesserra_core.ports.tools import ToolCallResult

log = logging.getLogger("tesserra.tools")

CLIENT_INFO = types.Implementation(name="tesserra", version="0.1.0")

_UNENCODABLE = -32098
"""The JSON-RPC error the writer answers, in place of the server, a request it cannot encode."""


def _unencodable() -> ValidationFailed:
    return ValidationFailed("the tool call's arguments cannot be sent as JSON", code="invalid_arguments")


def _destructive(annotations: types.ToolAnnotations | None) -> bool:
    """Only an explicit ``destructiveHint: true`` on a tool that is not read-only counts: a server that
    says nothing is taken at its word (the MCP default would make every unannotated tool destructive)."""
    return annotations is not None and annotations.destructive_hint is True and annotations.read_only_hint is not True


class McpToolSession:
    def __init__(self, channel: StdioChannel) -> None:
        self._channel = channel
        self._session: ClientSession | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._gone = False
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None

    @property
    def closed(self) -> bool:
        return self._gone

    async def start(self, seconds: float) -> None:
        self._task = asyncio.create_task(self._run(), name="mcp client session")
        waiter = asyncio.create_task(self._ready.wait())
        try:
            done, _ = await asyncio.wait({waiter, self._task}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            waiter.cancel()
            await self.aclose()
            raise
        waiter.cancel()
        if not self._ready.is_set():
            await self.aclose()
            if not done:
                raise Unavailable(
                    f"the tool server did not complete the MCP handshake within {seconds:g}s",
                    code="tool_server_unavailable",
                )
            failure = self._failure
            exited = failure is None or isinstance(failure, EOFError)
            reason = "it exited" if exited else type(failure).__name__
            raise Unavailable(f"the tool server failed the MCP handshake ({reason})", code="tool_server_unavailable")

    async def _run(self) -> None:
        incoming_send, incoming = anyio.create_memory_object_stream[SessionMessage | Exception](16)
        outgoing, outgoing_receive = anyio.create_memory_object_stream[SessionMessage](16)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._pump_in, incoming_send)
                tg.start_soon(self._pump_out, outgoing_receive, incoming_send.clone())
                async with ClientSession(incoming, outgoing, client_info=CLIENT_INFO) as session:
                    await session.initialize()
                    self._session = session
                    self._ready.set()
                    await self._stop.wait()
                tg.cancel_scope.cancel()
        except Exception as exc:  # the server broke the protocol or went away during the handshake
            if isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
                self._failure = exc.exceptions[0]
            else:
                self._failure = exc
        finally:
            self._gone = True
            self._session = None
            with contextlib.suppress(Exception):
                await self._channel.aclose()

    async def _pump_in(self, sink: MemoryObjectSendStream[SessionMessage | Exception]) -> None:
        async with sink:
            while True:
                try:
                    line = await self._channel.receive()
                except (EOFError, OSError):
                    break
                if not line.strip():
                    continue
                try:
                    message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                except ValueError as exc:
                    await sink.send(exc)
                    continue
                await sink.send(SessionMessage(message))
        self._gone = True
        self._stop.set()
        if not self._ready.is_set():  # the SDK would wait for the handshake's answer until the timeout
            raise EOFError("the tool server closed its stdout during the MCP handshake")

    async def _pump_out(
        self,
        source: MemoryObjectReceiveStream[SessionMessage],
        replies: MemoryObjectSendStream[SessionMessage | Exception],
    ) -> None:
        async with source, replies:
            async for item in source:
                try:
                    data = item.message.model_dump_json(by_alias=True, exclude_unset=True).encode()
                except (ValueError, RecursionError):
                    # Too deep for pydantic's encoder: refuse this message, keep the session.
                    log.warning("an MCP message to a tool server could not be encoded; not sent")
                    if isinstance(item.message, types.JSONRPCRequest):
                        error = types.ErrorData(code=_UNENCODABLE, message="the request cannot be encoded as JSON")
                        await replies.send(
                            SessionMessage(types.JSONRPCError(jsonrpc="2.0", id=item.message.id, error=error))
                        )
                    continue
                try:
                    await self._channel.send(data)
                except (OSError, EOFError):
                    self._gone = True
                    self._stop.set()
                    return

    def _live(self) -> ClientSession:
        if self._session is None or self._gone:
            raise Unavailable("the tool server is gone", code="tool_server_gone")
        return self._session

    async def list_tools(self) -> list[ToolInfo]:
        session = self._live()
        tools: list[ToolInfo] = []
        cursor: str | None = None
        try:
            while True:
                params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
                page = await session.list_tools(params=params)
                tools += [
                    ToolInfo(
                        name=t.name,
                        description=t.description or "",
                        input_schema=dict(t.input_schema),
                        destructive=_destructive(t.annotations),
                    )
                    for t in page.tools
                ]
                cursor = page.next_cursor
                if not cursor:
                    return tools
        except MCPError as exc:
            raise _translate(exc) from None

    async def call_tool(self, name: str, arguments: dict[str, Any], *, seconds: float) -> ToolCallResult:
        session = self._live()
        try:
            result = await session.call_tool(name, arguments, read_timeout_seconds=seconds)
        except MCPError as exc:
            if exc.code == types.REQUEST_TIMEOUT:
                raise Unavailable(f"the tool call took longer than {seconds:g}s", code="tool_call_timeout") from None
            if exc.code == _UNENCODABLE:
                raise _unencodable() from None
            raise _translate(exc) from None
        except ValidationError:  # the server's answer is not a tool result
            raise Unavailable("the tool server answered a malformed result", code="tool_server_error") from None
        except (ValueError, RecursionError):  # pydantic could not encode the request
            raise _unencodable() from None
        return ToolCallResult(
            content=[block.model_dump(mode="json", by_alias=True, exclude_none=True) for block in result.content],
            structured_content=result.structured_content,
            is_error=bool(result.is_error),
        )

    async def aclose(self) -> None:
        self._stop.set()
        task = self._task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), 5)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        elif task is None:
            self._gone = True
            with contextlib.suppress(Exception):
                await self._channel.aclose()


def _translate(exc: MCPError) -> Unavailable | Unprocessable:
    if exc.code == types.CONNECTION_CLOSED:
        return Unavailable("the tool server is gone", code="tool_server_gone")
    if exc.code in (types.INVALID_PARAMS, types.METHOD_NOT_FOUND):
        return Unprocessable(f"the tool server rejected the call: {exc.message[:300]}", code="tool_call_rejected")
    return Unavailable(f"the tool server answered an error: {exc.message[:300]}", code="tool_server_error")
