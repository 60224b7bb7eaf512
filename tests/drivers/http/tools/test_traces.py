"""Traces (issue 15): with an OTLP endpoint configured, a request's spans reach it over OTLP/HTTP
(protobuf), one tree per request: the HTTP span (route template, method, status), the use case under it,
the SQL statements and the tool-server call under that, each carrying the X-Request-Id answered. The
endpoint is this test's own receiver on loopback, decoding ExportTraceServiceRequest; what it receives
never holds a bearer token or a tool's secret config. A caller's W3C ``traceparent`` is continued (the
request's span is its child) and carried on to the tool server (the MCP request's ``_meta``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest

from tests import support
from tests.drivers.http.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, BACKENDS, Accounts
from tests.drivers.http.test_runtime_proxy import HEADER, PROXY, make_sandbox, mint, until_served
from tests.drivers.http.tools.conftest import PROBE, SECRET, TIME, install
from tests.servers.launchers import CATALOG, write_launchers
from tests.servers.otlp import REQUEST_ID, Collector, collecting
from tests.support import LiveServer, database_url, live_server

pytestmark = pytest.mark.usefixtures("time_server")


@pytest.fixture(scope="module")
async def collector() -> AsyncIterator[Collector]:
    async with collecting() as found:
        yield found


@pytest.fixture(scope="module", params=BACKENDS)
async def traced_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, collector: Collector
) -> AsyncIterator[LiveServer]:
    tmp = tmp_path_factory.mktemp(f"traces-{request.param}")
    scripts = write_launchers(tmp / "bin")
    patch = pytest.MonkeyPatch()
    patch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # milliseconds between batches, for a quick test
    try:
        async with database_url(request.param, tmp) as url:
            settings = support.test_settings(
                tmp, url, catalog_source=str(CATALOG), tool_script_dirs=scripts, otel_endpoint=collector.url
            )
            async with live_server(settings) as srv:
                assert await srv.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
                yield srv
    finally:
        patch.undo()


@pytest.fixture
async def http(traced_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=traced_server.url, timeout=60.0) as client:
        yield client


def _one(spans: list[dict[str, Any]], name: str) -> dict[str, Any]:
    named = [s for s in spans if s["name"] == name]
    assert len(named) == 1, (name, [s["name"] for s in spans])
    return named[0]


def _children(spans: list[dict[str, Any]], parent: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in spans if s["parent"] == parent["id"]]


def _descendants(spans: list[dict[str, Any]], root: dict[str, Any]) -> list[dict[str, Any]]:
    found, frontier = [], [root]
    while frontier:
        below = _children(spans, frontier.pop())
        found.extend(below)
        frontier.extend(below)
    return found


async def test_a_tool_call_is_one_tree_from_the_route_to_the_tool_server(
    http: httpx.AsyncClient, traced_server: LiveServer, collector: Collector
) -> None:
    owner = await Accounts(traced_server.uc).tenant_owner()
    ready = await install(http, owner, TIME, {"config": {"TZ": "America/Sao_Paulo"}})
    assert ready["status"] == "ready", ready
    called = await http.post(
        f"/api/installations/{ready['id']}/tools/call",
        json={"name": "get_current_time", "arguments": {"timezone": "Europe/Paris"}},
        headers=owner.bearer,
    )
    assert called.status_code == 200, called.text
    request_id = called.headers["x-request-id"]
    spans = await collector.tree_of(request_id, until="POST /api/installations/{installation_id}/tools/call")

    root = _one(spans, "POST /api/installations/{installation_id}/tools/call")
    assert root["parent"] == ""  # the request is the trace's root
    assert root["attributes"]["http.route"] == "/api/installations/{installation_id}/tools/call"
    assert root["attributes"]["http.request.method"] == "POST"
    assert root["attributes"]["http.response.status_code"] == 200
    assert {s["trace"] for s in spans} == {root["trace"]}
    use_case = _one(spans, "installations.call_tool")
    assert use_case["parent"] == root["id"]
    below = _descendants(spans, use_case)
    # (a call to a served installation reads no database: what it needs is cached; the test below has statements)
    tool = _one(below, "tool_server.call")
    assert tool["attributes"]["tesserra.tool"] == "get_current_time"
    assert tool["attributes"]["tesserra.tool_server"] == TIME
    assert len(_descendants(spans, root)) == len(spans) - 1  # every span of the request is in the tree
    assert all(s["attributes"][REQUEST_ID] == request_id for s in spans)


async def test_a_plain_route_is_route_then_use_case_then_statements(
    http: httpx.AsyncClient, traced_server: LiveServer, collector: Collector
) -> None:
    owner = await Accounts(traced_server.uc).tenant_owner("Initech")
    mine = f"trace-me-{uuid.uuid4().hex}"  # the caller's own id (unique: the collector serves both backends)
    answer = await http.get("/api/installations", headers={**owner.bearer, "X-Request-Id": mine})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-request-id"] == mine
    spans = await collector.tree_of(mine, until="GET /api/installations")
    root = _one(spans, "GET /api/installations")
    use_case = _one(spans, "installations.list")
    assert use_case["parent"] == root["id"]
    statements = [s for s in _descendants(spans, use_case) if s["name"].startswith("db.")]
    assert statements, [(s["name"], s["parent"]) for s in spans]
    assert {s["attributes"]["db.system"] for s in statements} <= {"sqlite", "postgresql"}
    assert all("SELECT" in s["attributes"]["db.statement"].upper() for s in statements if s["name"] == "db.select")


async def test_no_secret_reaches_the_collector(
    http: httpx.AsyncClient, traced_server: LiveServer, collector: Collector
) -> None:
    owner = await Accounts(traced_server.uc).tenant_owner("Hooli")
    ready = await install(http, owner, PROBE, {"config": {"PROBE_TOKEN": SECRET}})
    login = await http.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert login.status_code == 200
    refused = await http.get("/api/auth/me", headers={"Authorization": "Bearer not-a-token-but-secret-looking"})
    assert refused.status_code == 401
    me = await http.get("/api/auth/me", headers=owner.bearer)
    await collector.tree_of(me.headers["x-request-id"], until="GET /api/auth/me")
    sent = b"".join(collector.bodies)
    token = owner.bearer["Authorization"].removeprefix("Bearer ")
    for secret in (token, login.json()["access_token"], SECRET, ADMIN_PASSWORD, "not-a-token-but-secret-looking"):
        assert secret.encode() not in sent, secret
    assert b"authorization" not in sent.lower()
    assert ready["id"]


async def test_an_mcp_tool_call_is_one_tree_from_the_request_to_the_tool_server(
    http: httpx.AsyncClient, traced_server: LiveServer, collector: Collector
) -> None:
    owner = await Accounts(traced_server.uc).tenant_owner("Umbrella")
    ready = await install(http, owner, TIME, {"config": {"TZ": "America/Sao_Paulo"}})
    assert ready["status"] == "ready", ready
    mine = f"mcp-trace-{uuid.uuid4().hex}"
    modern = "2026-07-28"
    headers = {
        **owner.bearer,
        "X-Request-Id": mine,
        "Accept": "application/json, text/event-stream",
        "mcp-protocol-version": modern,
        "mcp-method": "tools/call",
        "mcp-name": "call_installation_tool",
    }
    arguments = {"installation_id": ready["id"], "name": "get_current_time", "arguments": {"timezone": "UTC"}}
    meta = {"io.modelcontextprotocol/protocolVersion": modern, "io.modelcontextprotocol/clientCapabilities": {}}
    params = {"name": "call_installation_tool", "arguments": arguments, "_meta": meta}
    called = await http.post(
        "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}, headers=headers
    )
    assert called.status_code == 200, called.text
    assert called.json()["result"]["isError"] is False, called.text
    spans = await collector.tree_of(mine, until="POST /mcp")

    root = _one(spans, "POST /mcp")
    assert root["parent"] == ""
    assert root["attributes"]["http.route"] == "/mcp"
    tool = _one(spans, "mcp.tools/call call_installation_tool")
    assert tool["attributes"]["mcp.tool"] == "call_installation_tool"
    assert tool["parent"] == root["id"]
    use_case = _one(spans, "installations.call_tool")
    assert use_case["parent"] == tool["id"]
    assert _one(spans, "tool_server.call")["parent"] == use_case["id"]
    assert {s["trace"] for s in spans} == {root["trace"]}


async def test_a_callers_traceparent_is_continued_and_carried_on_to_the_tool_server(
    http: httpx.AsyncClient, traced_server: LiveServer, collector: Collector
) -> None:
    owner = await Accounts(traced_server.uc).tenant_owner("Stark")
    ready = await install(http, owner, PROBE, {"config": {"PROBE_TOKEN": "probe-token-for-traces"}})
    assert ready["status"] == "ready", ready
    trace_id, caller = uuid.uuid4().hex, uuid.uuid4().hex[:16]  # unique: the collector serves both backends
    marker = f"trace-marker-{uuid.uuid4().hex}"
    called = await http.post(
        f"/api/installations/{ready['id']}/tools/call",
        json={"name": "trace_context", "arguments": {"marker": marker}},
        headers={**owner.bearer, "traceparent": f"00-{trace_id}-{caller}-01", "tracestate": "vendor=opaque"},
    )
    assert called.status_code == 200, called.text
    spans = await collector.tree_of(
        called.headers["x-request-id"], until="POST /api/installations/{installation_id}/tools/call"
    )
    root = _one(spans, "POST /api/installations/{installation_id}/tools/call")
    assert (root["trace"], root["parent"]) == (trace_id, caller)  # the caller's trace, under the caller's span
    assert {s["trace"] for s in spans} == {trace_id}
    assert len(_descendants(spans, root)) == len(spans) - 1

    carried = json.loads(called.json()["content"][0]["text"])  # what reached the tool server's stdin
    version, carried_trace, carried_parent, flags = carried["traceparent"].split("-")
    assert (version, carried_trace, flags) == ("00", trace_id, "01")
    assert carried_parent == _one(spans, "tool_server.call")["id"]  # the call's own span is the server's caller
    assert carried["tracestate"] == "vendor=opaque"


@pytest.mark.parametrize(
    "traceparent",
    [
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # an all-zero trace id is invalid
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # an all-zero parent too
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # version ff is forbidden
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",  # upper case is not W3C
        "not a traceparent at all",
        "00-" + "a" * 5000,
    ],
)
async def test_a_malformed_traceparent_is_ignored_and_the_request_is_a_root(
    http: httpx.AsyncClient, traced_server: LiveServer, collector: Collector, traceparent: str
) -> None:
    owner = await Accounts(traced_server.uc).tenant_owner(f"Malformed {uuid.uuid4().hex[:6]}")
    mine = f"bad-trace-{uuid.uuid4().hex}"
    answer = await http.get(
        "/api/installations", headers={**owner.bearer, "X-Request-Id": mine, "traceparent": traceparent}
    )
    assert answer.status_code == 200, answer.text
    root = _one(await collector.tree_of(mine, until="GET /api/installations"), "GET /api/installations")
    assert root["parent"] == ""
    assert root["trace"] not in traceparent.lower()


async def test_the_sandbox_proxy_carries_the_requests_span_to_the_sandbox(
    http: httpx.AsyncClient, traced_server: LiveServer, collector: Collector
) -> None:
    """The echo sandbox (under bubblewrap) shows what it received: the proxy's own span as the caller,
    in the trace the client started, in place of the client's traceparent."""
    owner = await Accounts(traced_server.uc).tenant_owner("Proxied")
    box = await make_sandbox(http, owner)
    token = (await mint(http, owner, box["id"]))["token"]
    assert (await until_served(http, f"{PROXY}/{box['id']}/", {HEADER: token})).status_code == 200
    trace_id, caller = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    mine = f"proxy-trace-{uuid.uuid4().hex}"
    sent = {HEADER: token, "X-Request-Id": mine, "traceparent": f"00-{trace_id}-{caller}-01"}
    answer = await http.get(f"{PROXY}/{box['id']}/traced", headers=sent)
    assert answer.status_code == 200, answer.text
    received = [value for name, value in answer.json()["headers"] if name.lower() == "traceparent"]
    spans = await collector.tree_of(mine, until="GET /api/runtime/proxy")
    root = _one(spans, "GET /api/runtime/proxy")
    assert (root["trace"], root["parent"]) == (trace_id, caller)
    assert received == [f"00-{trace_id}-{root['id']}-01"]  # one: the client's own was replaced
    await http.delete(f"/api/sandboxes/{box['id']}", headers=owner.bearer)


async def test_a_relayed_websocket_is_one_span_with_its_sandbox_close_code_and_bytes(
    http: httpx.AsyncClient, traced_server: LiveServer, collector: Collector
) -> None:
    """One span for the WebSocket's life, never one per frame: the client's trace continued, the route
    template, the sandbox, the handshake's status, the close code and side, the messages and bytes each way.
    A refused upgrade is a span too, with the refusal's status."""
    owner = await Accounts(traced_server.uc).tenant_owner("WebSockets")
    box = await make_sandbox(http, owner)
    token = (await mint(http, owner, box["id"]))["token"]
    assert (await until_served(http, f"{PROXY}/{box['id']}/", {HEADER: token})).status_code == 200
    url = f"ws://127.0.0.1:{traced_server.port}{PROXY}/{box['id']}/ws"
    trace_id, caller = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    mine, refused_id = f"ws-{uuid.uuid4().hex}", f"ws-refused-{uuid.uuid4().hex}"
    sent = {HEADER: token, "X-Request-Id": mine, "traceparent": f"00-{trace_id}-{caller}-01"}
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, headers=sent) as ws:
            assert ws._response.headers["x-request-id"] == mine
            for i in range(20):
                await ws.send_str(f"hello {i:02d}")  # 8 bytes each
                assert (await ws.receive(timeout=10)).data == f"hello {i:02d}"
            await ws.send_bytes(b"\x00\x01\x02")
            assert (await ws.receive(timeout=10)).data == b"\x00\x01\x02"
            await ws.send_str("close:4001")  # 10 bytes; the sandbox closes with 4001
            closing = await ws.receive(timeout=10)
            assert closing.type is aiohttp.WSMsgType.CLOSE
            assert closing.data == 4001
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url, headers={"X-Request-Id": refused_id})
        assert refused.value.status == 401

    spans = await collector.tree_of(mine, until="WS /api/runtime/proxy")
    span = _one(spans, "WS /api/runtime/proxy")
    assert (span["trace"], span["parent"]) == (trace_id, caller)
    a = span["attributes"]
    assert a["http.route"] == "/api/runtime/proxy"
    assert a["tesserra.sandbox_id"] == box["id"]
    assert a["http.response.status_code"] == 101
    assert (a["tesserra.websocket.close_code"], a["tesserra.websocket.closed_by"]) == (4001, "server")
    assert (a["tesserra.websocket.messages_received"], a["tesserra.websocket.bytes_received"]) == (22, 20 * 8 + 3 + 10)
    assert (a["tesserra.websocket.messages_sent"], a["tesserra.websocket.bytes_sent"]) == (21, 20 * 8 + 3)
    assert len(spans) < 21, [s["name"] for s in spans]  # 43 frames relayed, no span of their own
    refusal = _one(await collector.tree_of(refused_id, until="WS /api/runtime/proxy"), "WS /api/runtime/proxy")
    assert refusal["attributes"]["http.response.status_code"] == 401
    assert "tesserra.sandbox_id" not in refusal["attributes"]
    await http.delete(f"/api/sandboxes/{box['id']}", headers=owner.bearer)
