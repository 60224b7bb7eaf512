"""An OTLP/HTTP traces endpoint of the tests' own, on loopback: it decodes each protobuf
ExportTraceServiceRequest it is sent and keeps the raw bodies (to scan them for secrets)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support import free_port

REQUEST_ID = "tesserra.request_id"


@dataclass
class Collector:
    """An OTLP/HTTP traces endpoint: the raw bodies it was sent and every span decoded from them."""

    url: str = ""
    bodies: list[bytes] = field(default_factory=list)
    spans: list[dict[str, Any]] = field(default_factory=list)

    async def receive(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        body = await request.read()
        self.bodies.append(body)
        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        for resource in message.resource_spans:
            sender = {a.key: _value(a.value) for a in resource.resource.attributes}
            for scope in resource.scope_spans:
                for span in scope.spans:
                    self.spans.append(
                        {
                            "name": span.name,
                            "trace": span.trace_id.hex(),
                            "id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "attributes": {a.key: _value(a.value) for a in span.attributes},
                            "resource": sender,
                        }
                    )
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def tree_of(self, request_id: str, *, within: float = 30.0, until: str) -> list[dict[str, Any]]:
        """The spans carrying ``request_id`` once one named ``until`` arrived (the batches come late)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            spans = [s for s in self.spans if s["attributes"].get(REQUEST_ID) == request_id]
            if any(s["name"] == until for s in spans):
                await asyncio.sleep(0.3)  # the rest of its batch
                return [s for s in self.spans if s["attributes"].get(REQUEST_ID) == request_id]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no span {until!r} for {request_id}: {[s['name'] for s in self.spans]}")


def _value(any_value: Any) -> Any:
    return getattr(any_value, any_value.WhichOneof("value"))


@asynccontextmanager
async def collecting() -> AsyncIterator[Collector]:
    found = Collector()
    app = web.Application()
    app.router.add_post("/v1/traces", found.receive)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    found.url = f"http://127.0.0.1:{port}"
    try:
        yield found
    finally:
        await runner.cleanup()
