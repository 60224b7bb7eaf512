"""Traces through HAProxy (issue 15): two traced nodes behind the balancer send their spans to the test's
own OTLP endpoint. A client's W3C ``traceparent`` crosses HAProxy untouched, so whichever node answers,
the request's span is the child of the client's span in the client's trace, and the tool call and the
statements made for it are in that trace too."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from tests.cluster.conftest import client, new_owner, node_of
from tests.cluster.test_rest_families import TIME, _call_time, _settle
from tests.servers.cluster import Cluster, cluster
from tests.servers.launchers import CATALOG, write_launchers
from tests.servers.otlp import Collector, collecting

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("time_server")]

CALL = "POST /api/installations/{installation_id}/tools/call"
LIST = "GET /api/projetos"


@dataclass
class Traced:
    nodes: Cluster
    collector: Collector

    def node_id(self, name: str) -> str:
        """The node's id (``service.instance.id`` on its spans), from its data dir."""
        return (self.nodes.node(name).data / "node_id").read_text().strip()


@pytest.fixture(scope="module")
async def traced(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Traced]:
    tmp = tmp_path_factory.mktemp("traced")
    scripts = ",".join(write_launchers(tmp / "bin"))
    async with (
        collecting() as collector,
        cluster(
            tmp,
            size=2,
            TESSERRA_CATALOG_SOURCE=str(CATALOG),
            TESSERRA_TOOL_SCRIPT_DIRS=scripts,
            TESSERRA_OTEL_ENDPOINT=collector.url,
            OTEL_BSP_SCHEDULE_DELAY="100",
        ) as made,
    ):
        yield Traced(made, collector)


def _traceparent() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


async def _in_clients_trace(
    traced: Traced, answer: httpx.Response, route: str, trace_id: str, span_id: str
) -> set[str]:
    """The names of the request's spans, once checked: its span is the child of the client's span, every
    span under it is in the client's trace, and the node that sent them is the one that answered."""
    spans = await traced.collector.tree_of(answer.headers["x-request-id"], until=route)
    [root] = [s for s in spans if s["name"] == route]
    assert root["trace"] == trace_id, root
    assert root["parent"] == span_id, root
    assert root["resource"]["service.instance.id"] == traced.node_id(node_of(answer))
    assert {s["trace"] for s in spans} == {trace_id}, spans
    return {s["name"] for s in spans}


async def test_a_clients_trace_context_crosses_haproxy_to_whichever_node_serves_it(traced: Traced) -> None:
    nodes, collector = traced.nodes, traced.collector
    owner = await new_owner(nodes.url)
    async with client(nodes.url) as http:
        installed = await http.post(
            f"/api/marketplace/tools/{TIME}/install", json={"config": {"TZ": "UTC"}}, headers=owner.bearer
        )
        assert installed.status_code == 202, installed.text
        installation = (await _settle(http, owner, installed.json()["id"]))["id"]
        served: dict[str, set[str]] = {}
        for _ in range(2 * len(nodes.nodes)):  # round robin: each node serves a tool call
            header, trace_id, span_id = _traceparent()
            called = await http.post(
                f"/api/installations/{installation}/tools/call",
                json={"name": "get_current_time", "arguments": {"timezone": "Europe/Paris"}},
                headers={**owner.bearer, "traceparent": header, "tracestate": "client=1"},
            )
            assert called.status_code == 200, called.text
            names = await _in_clients_trace(traced, called, CALL, trace_id, span_id)
            assert "tool_server.call" in names, names
            served.setdefault(node_of(called), set()).add(CALL)
        for _ in range(2 * len(nodes.nodes)):  # and a read of the database
            header, trace_id, span_id = _traceparent()
            listed = await http.get("/api/projetos", headers={**owner.bearer, "traceparent": header})
            assert listed.status_code == 200, listed.text
            names = await _in_clients_trace(traced, listed, LIST, trace_id, span_id)
            assert "db.select" in names, names  # the statements' spans are in the client's trace too
            served.setdefault(node_of(listed), set()).add(LIST)
        assert served == {n.name: {CALL, LIST} for n in nodes.nodes}, served
    # the same call without trace context starts a trace of its own: the context above was the client's
    async with client(nodes.url) as http:
        alone = await _call_time(http, owner, installation)
        assert alone.status_code == 200, alone.text
        [root] = [s for s in await collector.tree_of(alone.headers["x-request-id"], until=CALL) if s["name"] == CALL]
        assert root["parent"] == ""
