"""/api/runtime over real sockets, to a real sandbox (the echo server under bubblewrap and pasta): the
runtime config, proxy tokens and their scope (other sandbox, other port, expired, revoked, restarted,
tampered, other tenant), what the sandbox receives and what the client gets back, path traversal,
the upstream address that no request can choose, streaming both ways, the cookie exchange, and a
WebSocket relayed with its close code."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import msgspec
import pytest

from tesserra_adapters.bootstrap import subkey
from tesserra_adapters.security import HmacProxyTokens
from tests.drivers.http.conftest import SECRET, Account, Accounts, assert_error
from tests.support import LiveServer

ECHO = Path(__file__).resolve().parents[2] / "servers" / "echo_sandbox.py"
PORTS = [8000, 8001]
PROXY = "/api/runtime/proxy"
HEADER = "X-Tesserra-Proxy-Token"


async def make_sandbox(client: httpx.AsyncClient, who: Account, **fields: Any) -> dict[str, Any]:
    body = {"name": "echo", "command": [str(ECHO)], "ports": PORTS, **fields}
    created = await client.post("/api/sandboxes", json=body, headers=who.bearer)
    assert created.status_code == 201, created.text
    box: dict[str, Any] = created.json()
    assert box["state"] == "running", json.dumps(box)
    return box


async def mint(client: httpx.AsyncClient, who: Account, sandbox_id: str, **params: Any) -> dict[str, Any]:
    answer = await client.get(f"/api/runtime/proxy-auth/{sandbox_id}", params=params, headers=who.bearer)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return dict(answer.json())


async def until_served(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> httpx.Response:
    """The sandbox's server may take a moment to listen after the sandbox runs."""
    for _ in range(100):
        answer = await client.get(url, headers=headers)
        if answer.status_code != 502:
            return answer
        await asyncio.sleep(0.1)
    return answer


@pytest.fixture
async def echo(client: httpx.AsyncClient, accounts: Accounts) -> AsyncIterator[tuple[Account, dict[str, Any]]]:
    owner = await accounts.tenant_owner()
    box = await make_sandbox(client, owner)
    token = (await mint(client, owner, box["id"]))["token"]
    ready = await until_served(client, f"{PROXY}/{box['id']}/", {HEADER: token})
    assert ready.status_code == 200, ready.text
    yield owner, box
    await client.delete(f"/api/sandboxes/{box['id']}", headers=owner.bearer)


async def test_config_names_the_proxy_and_no_secret(
    client: httpx.AsyncClient, echo: tuple[Account, dict[str, Any]]
) -> None:
    owner, box = echo
    config = (await client.get(f"/api/runtime/config/{box['id']}", headers=owner.bearer)).json()
    assert config["proxy_url"].endswith(f"{PROXY}/{box['id']}/")
    assert [p["port"] for p in config["ports"]] == PORTS
    assert config["ports"][1]["url"].endswith(f"{PROXY}/{box['id']}:8001/")
    assert config["generation"] == box["generation"]
    assert config["network"] == {"egress": False, "inbound": "proxy"}
    assert "token" not in json.dumps(config).replace("token_endpoint", "").replace("tesserra_proxy_token", "")


async def test_what_the_sandbox_receives_and_what_comes_back(
    client: httpx.AsyncClient, echo: tuple[Account, dict[str, Any]]
) -> None:
    owner, box = echo
    token = (await mint(client, owner, box["id"]))["token"]
    sent = {
        HEADER: token,
        "Authorization": "Bearer stolen",
        "Cookie": "session=console; tesserra_proxy=x",
        "X-API-Key": "tessera_x_y",
        "X-Forwarded-For": "6.6.6.6",
        "X-Forwarded-Host": "evil.example",
        "Forwarded": "for=6.6.6.6",
        "Connection": "X-Hop",
        "X-Hop": "drop me",
        "X-Custom": "kept",
    }
    # beside the header's token, a query token is not the credential: taken out, never exchanged
    answer = await client.get(f"{PROXY}/{box['id']}/cookies?a=1&tesserra_proxy_token={token}&b=2", headers=sent)
    assert answer.status_code == 200, answer.text
    seen = answer.json()
    names = {k.lower(): v for k, v in seen["headers"]}
    for gone in ("authorization", "cookie", "x-api-key", "forwarded", "x-hop", HEADER.lower()):
        assert gone not in names, names
    assert names["x-custom"] == "kept"
    assert names["x-forwarded-for"] == "127.0.0.1" or names["x-forwarded-for"].startswith("127.")
    assert names["x-forwarded-proto"] == "http"
    assert names["x-forwarded-prefix"] == f"{PROXY}/{box['id']}"
    assert names["x-forwarded-host"].startswith("127.0.0.1:")
    assert seen["target"] == "/cookies?a=1&b=2"
    assert token not in json.dumps(seen)
    assert "set-cookie" not in answer.headers
    assert "access-control-allow-origin" not in answer.headers
    assert "access-control-allow-credentials" not in answer.headers
    assert answer.headers["content-security-policy"].startswith("sandbox ")
    assert "same-origin" not in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-sandbox"] == "kept"


async def test_proxied_requests_keep_the_apis_request_id_and_host_check(
    client: httpx.AsyncClient, echo: tuple[Account, dict[str, Any]]
) -> None:
    """The proxy is served ahead of the API's middleware (``proxy.entry``): what that stack gave every
    request still holds: the request id, echoed or made, and the Host header's check."""
    owner, box = echo
    token = (await mint(client, owner, box["id"]))["token"]
    traced = await client.get(f"{PROXY}/{box['id']}/", headers={HEADER: token, "X-Request-Id": "trace-42"})
    assert traced.status_code == 200, traced.text
    assert traced.headers["x-request-id"] == "trace-42"
    made = await client.get(f"{PROXY}/{box['id']}/", headers={HEADER: token, "X-Request-Id": "bad id!"})
    assert len(made.headers["x-request-id"]) == 32
    assert made.headers["x-request-id"] != "bad id!"
    refused = await client.get(f"{PROXY}/{box['id']}/", headers={HEADER: token, "Host": "evil host"})
    assert_error(refused, 400, "validation_failed")


async def test_the_token_is_scoped(
    client: httpx.AsyncClient, accounts: Accounts, echo: tuple[Account, dict[str, Any]]
) -> None:
    owner, box = echo
    sid = box["id"]
    only_first = (await mint(client, owner, sid, ports=8000))["token"]
    assert (await client.get(f"{PROXY}/{sid}/", headers={HEADER: only_first})).status_code == 200
    assert (await client.get(f"{PROXY}/{sid}:8000/", headers={HEADER: only_first})).status_code == 200
    assert_error(await client.get(f"{PROXY}/{sid}:8001/", headers={HEADER: only_first}), 403, "proxy_token_scope")
    assert_error(await client.get(f"{PROXY}/{sid}:9999/", headers={HEADER: only_first}), 404, "port_not_declared")
    other = await make_sandbox(client, owner, name="other")
    assert_error(await client.get(f"{PROXY}/{other['id']}/", headers={HEADER: only_first}), 403, "proxy_token_scope")
    assert_error(await client.get(f"/api/runtime/proxy-auth/{sid}", params={"ports": 9}, headers=owner.bearer), 422)
    # tampered: another sandbox id in the payload, the signature kept
    body, signature = only_first[len("tsp_") :].split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims[1] = other["id"]  # the claims in order: token id, sandbox, tenant, ...
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged = f"tsp_{forged_body}.{signature}"
    assert_error(await client.get(f"{PROXY}/{other['id']}/", headers={HEADER: forged}), 401, "invalid_proxy_token")
    assert_error(await client.get(f"{PROXY}/{sid}/", headers={HEADER: only_first + "x"}), 401, "invalid_proxy_token")
    # expired: signed with the server's real key, an hour ago
    codec = HmacProxyTokens(subkey(SECRET, "sandbox-proxy"))
    an_hour_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    expired = codec.issue(msgspec.structs.replace(codec.decode(only_first), expires_at=an_hour_ago))
    assert_error(await client.get(f"{PROXY}/{sid}/", headers={HEADER: expired}), 401, "proxy_token_expired")
    # another tenant: its own credentials and its own token both meet the 404 of a missing sandbox
    stranger = await accounts.tenant_owner("Other")
    missing = await client.get(f"{PROXY}/01JZZZZZZZZZZZZZZZZZZZZZZZ/", headers=stranger.bearer)
    foreign = await client.get(f"{PROXY}/{sid}/", headers=stranger.bearer)
    assert_error(missing, 404, "sandbox_not_found")
    assert_error(foreign, 404, "sandbox_not_found")
    assert {k: v for k, v in missing.json().items() if k != "request_id"} == {
        k: v for k, v in foreign.json().items() if k != "request_id"
    }
    assert_error(await client.get(f"/api/runtime/proxy-auth/{sid}", headers=stranger.bearer), 404, "sandbox_not_found")
    assert_error(await client.get(f"/api/runtime/config/{sid}", headers=stranger.bearer), 404, "sandbox_not_found")
    assert_error(await client.get(f"{PROXY}/{sid}/"), 401, "unauthenticated")
    # the owner's own credentials work without a token
    assert (await client.get(f"{PROXY}/{sid}/", headers=owner.bearer)).status_code == 200
    await client.delete(f"/api/sandboxes/{other['id']}", headers=owner.bearer)


async def test_revocation_restart_and_delete_end_earlier_tokens(
    client: httpx.AsyncClient, echo: tuple[Account, dict[str, Any]]
) -> None:
    owner, box = echo
    sid = box["id"]
    first = (await mint(client, owner, sid))["token"]
    revoked = await client.delete(f"/api/runtime/proxy-auth/{sid}", headers=owner.bearer)
    assert revoked.status_code == 200, revoked.text
    assert_error(await client.get(f"{PROXY}/{sid}/", headers={HEADER: first}), 401, "proxy_token_revoked")
    second = (await mint(client, owner, sid))["token"]
    assert (await client.get(f"{PROXY}/{sid}/", headers={HEADER: second})).status_code == 200
    restarted = await client.post(f"/api/sandboxes/{sid}/restart", headers=owner.bearer)
    assert restarted.json()["generation"] > box["generation"]
    assert_error(await client.get(f"{PROXY}/{sid}/", headers={HEADER: second}), 401, "proxy_token_revoked")
    third = (await mint(client, owner, sid))["token"]
    assert (await until_served(client, f"{PROXY}/{sid}/", {HEADER: third})).status_code == 200
    paused = await client.post(f"/api/sandboxes/{sid}/pause", headers=owner.bearer)
    assert paused.json()["state"] == "paused"
    assert_error(await client.get(f"{PROXY}/{sid}/", headers={HEADER: third}), 409, "sandbox_paused")
    await client.delete(f"/api/sandboxes/{sid}", headers=owner.bearer)
    assert_error(await client.get(f"{PROXY}/{sid}/", headers={HEADER: third}), 401, "proxy_token_revoked")


async def test_paths_cannot_escape_and_the_upstream_cannot_be_chosen(
    client: httpx.AsyncClient, server: LiveServer, echo: tuple[Account, dict[str, Any]]
) -> None:
    owner, box = echo
    sid = box["id"]
    token = {HEADER: (await mint(client, owner, sid))["token"]}
    for path in ("a/../../b", "a/%2e%2e/b", "%2E%2E/x", "a/%2e%2e%2fb", "a/..%5cb", "x%00y"):
        raw = await _raw(server, f"GET {PROXY}/{sid}/{path} HTTP/1.1\r\nHost: x\r\n{HEADER}: {token[HEADER]}\r\n\r\n")
        assert raw.startswith(b"HTTP/1.1 400") or raw.startswith(b"HTTP/1.1 404"), (path, raw[:200])
    for where in (f"{sid}%2f..%2fother", f"{sid}:0", f"{sid}:99999", f"..%2f{sid}", f"{sid}@127.0.0.1:5432"):
        assert_error(await client.get(f"{PROXY}/{where}/", headers=token), 404)
    # Host and an absolute-form target do not move the upstream: the sandbox still answers
    raw = await _raw(
        server,
        f"GET http://127.0.0.1:5432{PROXY}/{sid}/abs HTTP/1.1\r\nHost: 127.0.0.1:6379\r\n"
        f"{HEADER}: {token[HEADER]}\r\nConnection: close\r\n\r\n",
    )
    assert raw.startswith(b"HTTP/1.1 200"), raw[:300]
    seen = json.loads(raw.split(b"\r\n\r\n", 1)[1].split(b"\r\n0\r\n")[0].split(b"\r\n", 1)[-1] or b"{}")
    assert seen.get("target") == "/abs", seen


async def _raw(server: LiveServer, request: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    if "Connection: close" not in request:
        request = request.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1)
    writer.write(request.encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 20)
    writer.close()
    return data


async def test_cookie_exchange_is_once_and_scoped(
    client: httpx.AsyncClient, echo: tuple[Account, dict[str, Any]]
) -> None:
    owner, box = echo
    sid = box["id"]
    token = (await mint(client, owner, sid))["token"]
    exchanged = await client.get(f"{PROXY}/{sid}/page?x=1&tesserra_proxy_token={token}")
    assert exchanged.status_code == 303, exchanged.text
    assert exchanged.headers["location"] == f"{PROXY}/{sid}/page?x=1"
    cookie = exchanged.headers["set-cookie"]
    assert f"Path={PROXY}/{sid}/" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    again = await client.get(f"{PROXY}/{sid}/page?tesserra_proxy_token={token}")
    assert_error(again, 401, "proxy_token_used")
    value = cookie.split(";")[0].split("=", 1)[1]
    followed = await client.get(f"{PROXY}/{sid}/page?x=1", headers={"Cookie": f"tesserra_proxy={value}"})
    assert followed.status_code == 200
    assert "cookie" not in {k.lower() for k, _ in followed.json()["headers"]}


async def test_bodies_stream_both_ways(client: httpx.AsyncClient, echo: tuple[Account, dict[str, Any]]) -> None:
    owner, box = echo
    sid = box["id"]
    token = {HEADER: (await mint(client, owner, sid))["token"]}
    # 4 MiB: Debian 12's pasta (passt 2023-03) now and then stalls a transfer of a few MiB and up, with
    # or without the proxy, and these tests run with whichever pasta is installed. Streaming in bounded
    # memory is shown with 256 MiB each way on the process runtime with the pasta of
    # scripts/install-pasta.sh (tests/integration/test_runtime_proxy_process.py) and with 64 MiB on
    # Docker (tests/integration/test_runtime_proxy_docker.py); here, that bodies arrive whole.
    size = 4 * 1024 * 1024
    digest = hashlib.sha256()

    async def upload() -> AsyncIterator[bytes]:
        block = b"u" * (1 << 20)
        for _ in range(size // len(block)):
            digest.update(block)
            yield block

    sent = await client.post(f"{PROXY}/{sid}/upload", content=upload(), headers=token, timeout=120)
    assert sent.status_code == 200, sent.text
    assert sent.json()["length"] == size
    assert sent.json()["sha256"] == digest.hexdigest()
    # downloads are smaller: under Debian 12's pasta, a sandbox's responses of a few MiB stall before their
    # end even straight at the workload's host port (measured without the proxy), so that is not what this tests
    received, size = 0, 1024 * 1024
    async with client.stream("GET", f"{PROXY}/{sid}/download?bytes={size}", headers=token, timeout=120) as down:
        async for piece in down.aiter_raw():
            received += len(piece)
    assert received == size
    # the first event arrives long before the last is sent: nothing waits for the whole body
    started = time.monotonic()
    async with client.stream("GET", f"{PROXY}/{sid}/sse?n=4&delay=0.5", headers=token) as events:
        assert events.headers["content-type"] == "text/event-stream"
        lines = events.aiter_lines()
        first = await anext(lines)
        assert first == "data: event 0"
        assert time.monotonic() - started < 1.2
        rest = [line async for line in lines if line]
    assert rest == ["data: event 1", "data: event 2", "data: event 3"]


async def test_a_websocket_is_relayed_with_its_close_code(
    client: httpx.AsyncClient, server: LiveServer, echo: tuple[Account, dict[str, Any]]
) -> None:
    owner, box = echo
    sid = box["id"]
    token = (await mint(client, owner, sid))["token"]
    url = f"ws://127.0.0.1:{server.port}{PROXY}/{sid}/ws"
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, headers={HEADER: token}) as ws:
            await ws.send_str("hello")
            assert (await ws.receive(timeout=10)).data == "hello"
            await ws.send_bytes(b"\x00\x01")
            assert (await ws.receive(timeout=10)).data == b"\x00\x01"
            await ws.send_str("close:4001")
            closing = await ws.receive(timeout=10)
            assert closing.type is aiohttp.WSMsgType.CLOSE
            assert closing.data == 4001
        async with session.ws_connect(f"{url}?tesserra_proxy_token={token}") as ws:
            await ws.send_str("via query")
            assert (await ws.receive(timeout=10)).data == "via query"
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url)
        assert refused.value.status == 401


async def test_proxied_traffic_keeps_an_idle_clock_from_running_out(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    box = await make_sandbox(client, owner, idle_timeout_seconds=3, on_idle="pause")
    sid = box["id"]
    token = {HEADER: (await mint(client, owner, sid))["token"]}
    assert (await until_served(client, f"{PROXY}/{sid}/", token)).status_code == 200
    began = time.monotonic()
    while time.monotonic() - began < 6:  # twice the idle timeout, busy all along
        assert (await client.get(f"{PROXY}/{sid}/", headers=token)).status_code == 200
        await asyncio.sleep(0.3)
    seen = (await client.get(f"/api/sandboxes/{sid}", headers=owner.bearer)).json()
    assert seen["state"] == "running", seen["events"]
    assert seen["last_activity_at"] > box["last_activity_at"]
    await asyncio.sleep(5)  # then quiet: the reaper pauses it, and the proxy says so
    assert_error(await client.get(f"{PROXY}/{sid}/", headers=token), 409, "sandbox_paused")
    await client.delete(f"/api/sandboxes/{sid}", headers=owner.bearer)


async def test_pipelined_head_and_a_client_gone_mid_stream_on_one_server(
    server: LiveServer, client: httpx.AsyncClient, echo: tuple[Account, dict[str, Any]]
) -> None:
    """``tesserra serve`` writes plain proxied answers straight onto the connection (``proxy.direct``):
    pipelined requests are answered in order, HEAD gets the head only, and a client that leaves in the
    middle of a stream ends the exchange (the watch lets the connection go)."""
    owner, box = echo
    sid = box["id"]
    token = (await mint(client, owner, sid))["token"]
    one = f"GET {PROXY}/{sid}/one HTTP/1.1\r\nHost: 127.0.0.1\r\n{HEADER}: {token}\r\n\r\n"
    head = f"HEAD {PROXY}/{sid}/two HTTP/1.1\r\nHost: 127.0.0.1\r\n{HEADER}: {token}\r\n\r\n"
    last = f"GET {PROXY}/{sid}/three HTTP/1.1\r\nHost: 127.0.0.1\r\n{HEADER}: {token}\r\nConnection: close\r\n\r\n"
    raw = await _raw(server, one + head + last)
    assert raw.count(b"HTTP/1.1 200 OK") == 3, raw[:500]
    assert raw.index(b'"target": "/one"') < raw.index(b'"target": "/three"')
    assert b'"target": "/two"' not in raw  # the HEAD's answer has no body
    assert raw.count(b"x-request-id: ") == 3
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        f"GET {PROXY}/{sid}/slow?n=100000&delay=0.01 HTTP/1.1\r\nHost: 127.0.0.1\r\n{HEADER}: {token}\r\n\r\n".encode()
    )
    assert (await asyncio.wait_for(reader.readuntil(b"chunk 3\n"), 10)).startswith(b"HTTP/1.1 200")
    watch = server.uc.runtime.watch
    assert watch.open_connections(sid) == 1
    writer.transport.abort()
    for _ in range(100):
        if watch.open_connections(sid) == 0:
            break
        await asyncio.sleep(0.05)
    assert watch.open_connections(sid) == 0
