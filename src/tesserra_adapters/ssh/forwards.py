"""A local forward: a listener on 127.0.0.1 whose every connection gets a channel of its own (opened by
``open_channel``: a direct-tcpip channel over SSH, or a plain TCP connection in the in-memory port) and is
copied both ways with the bytes counted. Closing it stops the listener, ends every connection (the local
client sees end of file) and releases what carries the channels."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

CHUNK = 65536
LOCALHOST = "127.0.0.1"

OpenChannel = Callable[[], Awaitable[tuple[Any, Any]]]
"""A fresh (reader, writer) pair to the destination: asyncio streams or asyncssh's, which read and write
alike."""


class LoopbackForward:
    def __init__(self, open_channel: OpenChannel, release: Callable[[], Awaitable[None]]) -> None:
        self._open_channel = open_channel
        self._release = release
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[Any] = set()
        self._closed = asyncio.Event()
        self._ended = asyncio.Event()
        self._closing = False
        self.local_port = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.connections = 0

    async def listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, LOCALHOST, 0)
        self.local_port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closing:
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        self._writers.add(writer)
        self.connections += 1
        channel_writer: Any = None
        try:
            channel_reader, channel_writer = await self._open_channel()
            await asyncio.gather(
                self._copy(reader, channel_writer, sent=True), self._copy(channel_reader, writer, sent=False)
            )
        except Exception:  # noqa: S110 (the channel would not open or broke: this connection ends, not the forward)
            pass
        finally:
            self._pipes.discard(task)
            self._writers.discard(writer)
            for end in (channel_writer, writer):
                if end is not None:
                    with contextlib.suppress(Exception):
                        end.close()

    async def _copy(self, source: Any, sink: Any, *, sent: bool) -> None:
        while data := await source.read(CHUNK):
            if sent:
                self.bytes_sent += len(data)
            else:
                self.bytes_received += len(data)
            sink.write(data)
            await sink.drain()
        with contextlib.suppress(Exception):
            if sink.can_write_eof():
                sink.write_eof()

    async def close(self) -> None:
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        try:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                with contextlib.suppress(Exception):
                    writer.close()
            for pipe in list(self._pipes):
                pipe.cancel()
            if self._pipes:
                await asyncio.wait(list(self._pipes), timeout=2.0)
            if self._server is not None:
                await self._server.wait_closed()
            await self._release()
        finally:
            self._closed.set()
            self._ended.set()

    async def wait_closed(self) -> None:
        await self._ended.wait()

    def ended(self) -> None:
        """What carries the channels ended by itself: waiters of ``wait_closed`` wake (the caller closes)."""
        self._ended.set()
