#!/usr/bin/python3
"""What the proxy tests run inside a sandbox (the system Python, stdlib only; the sandbox sees this
file and nothing else of the repository): HTTP/1.1 with keep-alive on ``$PORT``.

- any request: the request as it arrived, as JSON (method, target, headers, body length and sha256);
- ``/download?bytes=N``: N bytes, chunked, in 64 KiB pieces, as fast as the reader takes them;
- ``/slow?n=N&delay=S``: N chunks, one every S seconds (chunked);
- ``/sse?n=N&delay=S``: N server-sent events, one every S seconds;
- ``/cookies``: a response that tries to set a cookie, credentialed CORS and its own CSP;
- ``/hangup-next``: the request echoed, then the connection closed on the next request, unanswered
  (a keep-alive timer that crossed the request);
- ``/garbage``: bytes that are not HTTP, then the connection closed;
- ``/ws``: a WebSocket that echoes every message; ``close:<code>`` closes with that code.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import struct
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            length = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if length == 0:
                await reader.readline()
                break
            chunk = await reader.readexactly(length)
            digest.update(chunk)
            size += length
            await reader.readline()
    else:
        left = int(headers.get("content-length", "0"))
        while left:
            chunk = await reader.read(min(left, 1 << 16))
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            left -= len(chunk)
    return size, digest.hexdigest()


def head(status: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def chunked(writer: asyncio.StreamWriter, pieces: AsyncIterator[bytes], content_type: str) -> None:
    writer.write(head("200 OK", [("Content-Type", content_type), ("Transfer-Encoding", "chunked")]))
    async for piece in pieces:
        writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        await writer.drain()
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def download(size: int) -> AsyncIterator[bytes]:
    block = b"x" * (1 << 16)
    while size > 0:
        yield block[: min(size, len(block))]
        size -= len(block)


async def paced(n: int, delay: float, template: str) -> AsyncIterator[bytes]:
    for i in range(n):
        yield template.format(i=i).encode()
        await asyncio.sleep(delay)


async def websocket(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: str) -> None:
    accept = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()
    writer.write(
        head(
            "101 Switching Protocols",
            [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept)],
        )
    )
    while True:
        first, second = await reader.readexactly(2)
        opcode, length = first & 0x0F, second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await reader.readexactly(8))
        mask = await reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(length)))
        if opcode == 8:
            writer.write(bytes([0x88, len(payload)]) + payload)
            break
        if opcode == 9:
            writer.write(bytes([0x8A, len(payload)]) + payload)
            continue
        text = payload.decode(errors="replace") if opcode == 1 else ""
        if text.startswith("close:"):
            writer.write(bytes([0x88, 2]) + struct.pack("!H", int(text[6:])))
            break
        size = len(payload)
        header = bytes([0x80 | opcode, size]) if size < 126 else bytes([0x80 | opcode, 126]) + struct.pack("!H", size)
        writer.write(header + payload)
        await writer.drain()
    await writer.drain()


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool | str:
    line = await reader.readline()
    if not line:
        return False
    method, target, _ = line.decode("latin-1").split(" ", 2)
    raw: list[list[str]] = []
    while (header := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = header.decode("latin-1").partition(":")
        raw.append([name.strip(), value.strip()])
    headers = {k.lower(): v for k, v in raw}
    url = urlsplit(target)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    if url.path == "/ws" and headers.get("upgrade", "").lower() == "websocket":
        await websocket(reader, writer, headers["sec-websocket-key"])
        return False
    size, digest = await read_body(reader, headers)
    if url.path == "/garbage":
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        return False
    if url.path == "/download":
        await chunked(writer, download(int(query["bytes"])), "application/octet-stream")
    elif url.path == "/slow":
        await chunked(writer, paced(int(query["n"]), float(query["delay"]), "chunk {i}\n"), "text/plain")
    elif url.path == "/sse":
        await chunked(writer, paced(int(query["n"]), float(query["delay"]), "data: event {i}\n\n"), "text/event-stream")
    else:
        seen = {"method": method, "target": target, "headers": raw, "length": size, "sha256": digest}
        body = json.dumps(seen).encode()
        extra = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        if url.path == "/cookies":
            extra += [
                ("Set-Cookie", "sandbox=1; Path=/"),
                ("Access-Control-Allow-Origin", "https://evil.example"),
                ("Access-Control-Allow-Credentials", "true"),
                ("Content-Security-Policy", "default-src *"),
                ("X-Sandbox", "kept"),
            ]
        writer.write(head("200 OK", extra) + (b"" if method == "HEAD" else body))
        await writer.drain()
    return "hangup" if url.path == "/hangup-next" else True


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while done := await answer(reader, writer):
            if done == "hangup":
                await reader.readline()  # the next request's first line: closed unanswered
                break
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(serve, "0.0.0.0", int(os.environ["PORT"]))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
