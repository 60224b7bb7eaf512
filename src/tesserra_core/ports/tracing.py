"""Where the core reports spans for operators to follow one request (OpenTelemetry in the real adapter,
on only when an OTLP endpoint is configured). The no-op default costs one attribute read per use case."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

Attribute = str | int | float | bool


class Span(Protocol):
    """The open span a ``Tracer.span`` block hands out (an OpenTelemetry span in the real adapter)."""

    def set_attribute(self, key: str, value: Attribute) -> None: ...

    def update_name(self, name: str) -> None: ...


class Tracer(Protocol):
    @property
    def enabled(self) -> bool:
        """False for the no-op adapter: the facade then wraps no use case and drivers open no span."""
        ...

    def span(
        self,
        name: str,
        attributes: Mapping[str, Attribute] | None = None,
        *,
        server: bool = False,
        remote: Mapping[str, str] | None = None,
    ) -> AbstractContextManager[Span]:
        """A child of the current span (``server``: the span of a request received, the root of its
        trace unless ``remote``, the caller's W3C trace context headers ``traceparent`` and
        ``tracestate``, names a valid parent span: then the span continues the caller's trace, as that
        span's child). An exception that leaves the block marks the span failed with its type, never its
        message (which may echo input)."""
        ...

    def request_id(self, request_id: str) -> None:
        """The current request's id, set on its span and on every span started under it."""
        ...

    def annotate(self, key: str, value: Attribute) -> None:
        """Set ``key`` on the current span (a driver naming what the request acted on once it knows it,
        as the sandbox proxy names its sandbox). Nothing outside a span, or with tracing off."""
        ...

    def inject(self, carrier: MutableMapping[str, str]) -> None:
        """Set the current span's W3C trace context (``traceparent``, and ``tracestate`` if any) in
        ``carrier``, the headers of a call this process makes, so that the server called continues
        the trace. Nothing outside a span, or with tracing off."""
        ...


class _NoSpan:
    def set_attribute(self, key: str, value: Attribute) -> None:
        return None

    def update_name(self, name: str) -> None:
        return None


_NO_SPAN = _NoSpan()


class NoTracer:
    """Tracing off: no span is made."""

    enabled = False

    @contextmanager
    def span(
        self,
        name: str,
        attributes: Mapping[str, Attribute] | None = None,
        *,
        server: bool = False,
        remote: Mapping[str, str] | None = None,
    ) -> Iterator[Span]:
        yield _NO_SPAN

    def request_id(self, request_id: str) -> None:
        return None

    def annotate(self, key: str, value: Attribute) -> None:
        return None

    def inject(self, carrier: MutableMapping[str, str]) -> None:
        return None
