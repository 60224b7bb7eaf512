"""Request bodies that are files: streamed, never read whole. Shared by the drivers that take uploads
(REST's /api/projetos/{id}/arquivos and the console's files page), so both read them one way and answer
one way: python-multipart's errors become the core's ``ValidationFailed``, the ASGI channel a core ``Upload``.

A raw body is the request stream itself. A ``multipart/form-data`` body goes through
python-multipart's push parser chunk by chunk; the first part that carries a filename is the file,
handed on as it arrives. Small plain fields before it (a form's CSRF token) are kept, up to
``MAX_FIELD`` bytes each; other parts are skipped. Memory holds at most one received chunk.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from tesserra_core.errors import ValidationFailed
from tesserra_core.usecases.files import Upload

MAX_SKIPPED = 1024 * 1024
"""After the file part, at most this much of what follows is read (the closing boundary, small fields)."""
MAX_FIELD = 4096
"""A plain field before the file keeps at most this many bytes (a longer one is cut, never grown)."""
MAX_FIELDS = 16
"""At most this many plain fields before the file are kept."""
MULTIPART_SLACK = 64 * 1024
"""What a multipart body may add to the file it carries (boundaries, part headers, small fields): a declared
Content-Length past the per-file limit and this is refused before a byte is read."""
DRAIN_LIMIT = 16 * 1024 * 1024
"""After a refused upload, read (and drop) up to this much of the rest, so the client reads the answer."""

Receive = Callable[[], Awaitable[Any]]
"""An ASGI ``receive`` channel."""

_FILENAME_STAR = re.compile(r"filename\*\s*=\s*([^;]+)", re.IGNORECASE)


class RequestBody:
    """The request body, chunk by chunk, straight from the ASGI channel; knows when it has ended,
    so that after a refusal the rest can be read and dropped without waiting for more."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while not self.done:
            message: Any = await self._receive()
            if message["type"] == "http.disconnect":
                self.done = True
                raise ValidationFailed("the client went away before the end of the body", code="client_disconnected")
            self.done = not message.get("more_body", False)
            chunk: bytes = message.get("body", b"")
            if chunk:
                yield chunk

    async def drain(self, limit: int) -> None:
        """Read and drop what is left, up to ``limit`` bytes (then the server closes the connection)."""
        read = 0
        try:
            async for chunk in self:
                read += len(chunk)
                if read >= limit:
                    return
        except ValidationFailed:
            return


def _bad(message: str) -> ValidationFailed:
    return ValidationFailed(f"multipart body: {message}", code="invalid_multipart")


def _filename(disposition: bytes) -> str | None:
    """``filename*`` (RFC 5987 ``UTF-8''...``) if given, else ``filename``, as text; None for a plain field."""
    text = disposition.decode("utf-8", "replace")
    star = _FILENAME_STAR.search(text)
    if star:
        charset, _, encoded = star.group(1).strip().strip('"').partition("''")
        try:
            return urllib.parse.unquote(encoded, encoding=charset or "utf-8", errors="strict")
        except (LookupError, UnicodeDecodeError):
            raise _bad("filename* is not valid percent-encoded text") from None
    _, params = parse_options_header(disposition)
    raw = params.get(b"filename")
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("filename is not UTF-8") from None


class MultipartFile:
    def __init__(self, stream: AsyncIterable[bytes], content_type: str) -> None:
        _, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if not boundary:
            raise _bad("the Content-Type has no boundary")
        self._stream = aiter(stream)
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._in_file = False
        self._file_done = False
        self._ended = False
        self._found: tuple[str, str | None] | None = None
        self._field_name: str | None = None
        self._field_value = bytearray()
        self.fields: dict[str, str] = {}
        """Plain fields that came before the file part (name to value, UTF-8, cut at ``MAX_FIELD``)."""
        self._pending: list[bytes] = []
        callbacks: Any = {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }
        try:
            self._parser = MultipartParser(boundary, callbacks)
        except FormParserError as exc:  # e.g. a boundary past RFC 2046's 70 characters (the parser allows 256)
            raise _bad(str(exc) or "malformed boundary") from None

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        if self._found is not None:
            return
        disposition = self._headers.get(b"content-disposition", b"")
        filename = _filename(disposition)
        if filename is None:
            _, params = parse_options_header(disposition)
            name = params.get(b"name")
            if name is not None and len(self.fields) < MAX_FIELDS:
                self._field_name, self._field_value = name.decode("utf-8", "replace"), bytearray()
            return
        part_type = self._headers.get(b"content-type")
        self._found = (filename, part_type.decode("latin-1") if part_type else None)
        self._in_file = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._pending.append(bytes(data[start:end]))
        elif self._field_name is not None:
            room = MAX_FIELD - len(self._field_value)
            self._field_value += data[start : start + max(0, min(end - start, room))]

    def _part_end(self) -> None:
        if self._in_file:
            self._in_file = False
            self._file_done = True
        elif self._field_name is not None:
            self.fields[self._field_name] = self._field_value.decode("utf-8", "replace")
            self._field_name = None

    def _end(self) -> None:
        self._ended = True

    async def _feed(self) -> int:
        """Parse one more chunk of the request: its size, 0 at the end of the body."""
        chunk = await anext(self._stream, b"")
        if chunk:
            try:
                self._parser.write(chunk)
            except FormParserError as exc:  # python-multipart's own MultipartParseError and friends
                raise _bad(str(exc) or "malformed") from None
        return len(chunk)

    async def open(self) -> Upload:
        """Read up to the file part's headers; the Upload then streams its content."""
        while self._found is None:
            if not await self._feed():
                raise _bad("no part carries a file (a part with a filename)")
        filename, content_type = self._found
        return Upload(filename, content_type, self._content())

    async def _content(self) -> AsyncIterator[bytes]:
        while True:
            while self._pending:
                yield self._pending.pop(0)
            if self._file_done:
                break
            if not await self._feed():
                raise _bad("the body ended inside the file part")
        skipped = 0
        while not self._ended and skipped < MAX_SKIPPED and (fed := await self._feed()):
            skipped += fed


def content_disposition(name: str) -> str:
    """RFC 6266, for a download: an ASCII fallback ``filename`` and the exact name as RFC 5987 ``filename*``."""
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\;' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"
