"""The stdio of a Docker workload (``docker.py``): its container's stdin and stdout over the
engine's attach stream, one message per line."""

from __future__ import annotations

import aiohttp
from aiodocker.stream import Stream


class AttachedChannel:
    """A container's stdin and stdout over Docker's attach stream, one message per line."""

    def __init__(self, stream: Stream) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self._eof = False
        self._closed = False

    async def send(self, line: bytes) -> None:
        if self._closed:
            raise BrokenPipeError("the channel is closed")
        try:
            await self._stream.write_in(line.rstrip(b"\n") + b"\n")
        except (RuntimeError, ConnectionError, aiohttp.ClientError) as exc:
            raise BrokenPipeError("the workload's stdin is closed") from exc

    async def receive(self) -> bytes:
        while True:
            if self._closed:
                raise EOFError("the channel is closed")
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                return line
            if self._eof:
                if self._buffer:
                    line = bytes(self._buffer)
                    self._buffer.clear()
                    return line
                raise EOFError("the workload's stdout is closed")
            try:
                message = await self._stream.read_out()
            except (ConnectionError, aiohttp.ClientError):
                message = None
            if message is None:
                self._eof = True
            elif message.stream == 1:
                self._buffer.extend(message.data)

    async def aclose(self) -> None:
        """Detach: the container keeps running (its stdin stays open), and may be attached again."""
        if not self._closed:
            self._closed = True
            await self._stream.close()
