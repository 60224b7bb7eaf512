"""Tracing as OpenTelemetry spans sent over OTLP/HTTP (protobuf). This module imports the SDK, so nothing
imports it unless an endpoint is configured (``TESSERRA_OTEL_ENDPOINT`` or the standard
``OTEL_EXPORTER_OTLP_ENDPOINT``; ``tesserra_adapters.bootstrap.tracer``).

A request that brings a W3C ``traceparent`` header continues the caller's trace (its server span is
the child of the caller's span; the caller's sampled flag is honoured, the SDK's parent-based
default), and the calls this process makes over HTTP carry the current span's ``traceparent``
(``inject``): the model server, OAuth providers, a catalog registry, the sandbox proxy's upstream. Tool servers over
stdio get it in each request's ``params._meta`` from the MCP SDK itself (SEP-414). Both through
OpenTelemetry's W3C propagator, never parsed here.

The request id rides down the tree: the HTTP guard sets it on the request's span and each span copies
it from its parent when it starts. Statements are spans of their own (SQLAlchemy's cursor events), with
the SQL text and its placeholders, never the bound values; only those run under a request's span."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_core.ports.tracing import Attribute, Span

REQUEST_ID = "tesserra.request_id"
MAX_STATEMENT = 2_000
"""Characters of SQL text kept on a statement's span."""
W3C = TraceContextTextMapPropagator()
"""``traceparent`` and ``tracestate`` read from a request's headers and written into a call's."""


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of a collector's base endpoint (the standard's rule: ``/v1/traces``
    appended), or the URL itself when it already names the traces path."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"


class _InheritRequestId(SpanProcessor):
    """Each span starts with its parent's request id."""

    def on_start(self, span: SdkSpan, parent_context: otel_context.Context | None = None) -> None:
        parent = trace.get_current_span(parent_context)
        attributes = getattr(parent, "attributes", None)
        if attributes and REQUEST_ID in attributes:
            span.set_attribute(REQUEST_ID, attributes[REQUEST_ID])

    def on_end(self, span: ReadableSpan) -> None:
        return None


class OtelTracer:
    enabled = True

    def __init__(
        self, endpoint: str, *, service: str = "tesserra", node: str = "", exporter: SpanExporter | None = None
    ) -> None:
        """Spans batched to the OTLP/HTTP ``endpoint`` (or to ``exporter``, for tests)."""
        names: dict[str, str | int] = {"service.name": service, "process.pid": os.getpid()}  # which worker
        if node:
            names["service.instance.id"] = node
        resource = Resource.create(names)
        self.provider = TracerProvider(resource=resource)
        self.provider.add_span_processor(_InheritRequestId())
        sink = exporter if exporter is not None else OTLPSpanExporter(endpoint=traces_url(endpoint))
        self.provider.add_span_processor(BatchSpanProcessor(sink))
        self._tracer = self.provider.get_tracer("tesserra")

    @contextmanager
    def span(
        self,
        name: str,
        attributes: Mapping[str, Attribute] | None = None,
        *,
        server: bool = False,
        remote: Mapping[str, str] | None = None,
    ) -> Iterator[Span]:
        kind = SpanKind.SERVER if server else SpanKind.INTERNAL
        # an invalid or absent traceparent extracts to an empty context: the span is a trace's root
        parent = W3C.extract(remote) if remote else None
        with self._tracer.start_as_current_span(
            name,
            context=parent,
            kind=kind,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except BaseException as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                span.set_attribute("error.type", type(exc).__name__)
                raise

    def request_id(self, request_id: str) -> None:
        trace.get_current_span().set_attribute(REQUEST_ID, request_id)

    def annotate(self, key: str, value: Attribute) -> None:
        trace.get_current_span().set_attribute(key, value)

    def inject(self, carrier: MutableMapping[str, str]) -> None:
        W3C.inject(carrier)

    def trace_statements(self, engine: AsyncEngine) -> None:
        """One span per SQL statement run under a span (a request's): its child, named after the
        statement's verb (``db.select``), with its SQL text. Background loops' statements are not traced."""
        tracer = self._tracer
        system = engine.dialect.name

        def before(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
            if not trace.get_current_span().is_recording():
                return  # a background loop's statement, outside any request: not a trace of its own
            operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
            context._tesserra_span = tracer.start_span(
                f"db.{operation.lower()}",
                kind=SpanKind.CLIENT,
                attributes={"db.system": system, "db.operation": operation, "db.statement": statement[:MAX_STATEMENT]},
            )

        def after(_conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool) -> None:
            span = getattr(context, "_tesserra_span", None)
            if span is not None:
                span.end()
                context._tesserra_span = None

        def failed(context: Any) -> None:
            span = getattr(context.execution_context, "_tesserra_span", None)
            if span is not None:
                span.set_status(Status(StatusCode.ERROR, type(context.original_exception).__name__))
                span.end()
                context.execution_context._tesserra_span = None

        event.listen(engine.sync_engine, "before_cursor_execute", before)
        event.listen(engine.sync_engine, "after_cursor_execute", after)
        event.listen(engine.sync_engine, "handle_error", failed)

    def shutdown(self) -> None:
        """Sends the spans still buffered (a bounded wait), then stops the exporter."""
        self.provider.shutdown()
