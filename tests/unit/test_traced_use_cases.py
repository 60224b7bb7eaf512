"""One span per use-case call when tracing is on, none and nothing wrapped when it is off; a failure
marks the span with the exception's type, never its message (which may echo input)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator, Mapping, MutableMapping
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from tesserra_adapters.bootstrap import build, memory_ports
from tesserra_adapters.settings import Settings
from tesserra_adapters.tracing import REQUEST_ID, OtelTracer
from tesserra_core.errors import TesserraError
from tesserra_core.facade import UseCases
from tesserra_core.ports.tracing import Attribute, NoTracer, Span, Tracer
from tesserra_core.usecases.installations import CallInstallationTool
from tesserra_core.usecases.sessions import Credentials
from tests.unit.helpers import ADMIN_EMAIL, PASSWORD, FakeClock

WRONG = "wrong-password-that-must-not-be-recorded"


class Recording:
    """A tracer that keeps the names of the spans it opened."""

    enabled = True

    def __init__(self) -> None:
        self.names: list[str] = []

    @contextmanager
    def span(
        self,
        name: str,
        attributes: Mapping[str, Attribute] | None = None,
        *,
        server: bool = False,
        remote: Mapping[str, str] | None = None,
    ) -> Iterator[Span]:
        self.names.append(name)
        with NoTracer().span(name) as span:
            yield span

    def request_id(self, request_id: str) -> None:
        return None

    def annotate(self, key: str, value: Attribute) -> None:
        return None

    def inject(self, carrier: MutableMapping[str, str]) -> None:
        return None


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="x" * 48)


async def _facade(settings: Settings, stack: AsyncExitStack, tracer: Tracer) -> UseCases:
    ports = dataclasses.replace(memory_ports(settings, stack, clock=FakeClock()), tracer=tracer)
    uc = await build(ports, settings)
    assert await uc.operators.ensure_first_owner(ADMIN_EMAIL, PASSWORD)
    return uc


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as resources:
        yield resources


async def test_off_nothing_is_wrapped(settings: Settings, stack: AsyncExitStack) -> None:
    uc = await _facade(settings, stack, NoTracer())
    assert type(uc.installations.call_tool) is CallInstallationTool


async def test_on_each_use_case_call_is_a_span_named_after_it(settings: Settings, stack: AsyncExitStack) -> None:
    tracer = Recording()
    uc = await _facade(settings, stack, tracer)
    assert tracer.names == ["operators.ensure_first_owner"]
    await uc.sessions.login(Credentials(email=ADMIN_EMAIL, password=PASSWORD))
    assert tracer.names[-1] == "sessions.login"
    assert uc.installations.call_tool.servers is not None  # the use case's own attributes still read


async def test_a_failure_is_marked_by_type_never_by_message(settings: Settings, stack: AsyncExitStack) -> None:
    spans = InMemorySpanExporter()
    tracer = OtelTracer("unused", exporter=spans)
    uc = await _facade(settings, stack, tracer)
    with tracer.span("GET /api/auth/login", server=True):
        tracer.request_id("req-1")
        with pytest.raises(TesserraError) as refused:
            await uc.sessions.login(Credentials(email=ADMIN_EMAIL, password=WRONG))
    tracer.shutdown()  # the last batch exported
    [login] = [s for s in spans.get_finished_spans() if s.name == "sessions.login"]
    assert login.status.status_code is StatusCode.ERROR
    assert login.attributes is not None
    assert login.attributes[REQUEST_ID] == "req-1"  # inherited from the request's span
    assert login.attributes["error.type"] == login.status.description == type(refused.value).__name__
    assert not login.events  # no exception event: its message could echo what the caller sent
    for span in spans.get_finished_spans():
        assert WRONG not in repr(span.to_json())
