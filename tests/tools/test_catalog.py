"""The marketplace and registry over the catalog, and refreshing it from a source."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import pytest

from tesserra_adapters.catalog import CatalogFile
from tesserra_core.domain.identity import Principal
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.tools import CatalogEntry, EnvironmentVariable, Package, validate_config
from tesserra_core.errors import Forbidden, NotFound, Unavailable, ValidationFailed
from tesserra_core.facade import UseCases, use_cases
from tesserra_core.usecases.marketplace import CatalogQuery, parse_documents
from tests.tools.helpers import PROBE, TIME
from tests.unit.helpers import Team


async def test_search_by_text_category_and_tag(uc: UseCases, team: Team) -> None:
    everything = await uc.marketplace.search(team.member, CatalogQuery(), PageRequest())
    assert everything.total == 5
    assert [t.name for t in everything.items] == sorted(t.name for t in everything.items)
    assert [
        t.id for t in (await uc.marketplace.search(team.member, CatalogQuery("timezone"), PageRequest())).items
    ] == [TIME]
    assert [
        t.id for t in (await uc.marketplace.search(team.member, CatalogQuery("SECRET digests"), PageRequest())).items
    ] == [PROBE]
    testing = await uc.marketplace.search(team.member, CatalogQuery(category="testing"), PageRequest(limit=2))
    assert testing.total == 4
    assert len(testing.items) == 2
    assert [
        t.id for t in (await uc.marketplace.search(team.member, CatalogQuery(tag="crash"), PageRequest())).items
    ] == [PROBE]
    assert (await uc.marketplace.search(team.member, CatalogQuery(tag="cras"), PageRequest())).total == 0
    assert (await uc.marketplace.search(team.member, CatalogQuery("%"), PageRequest())).total == 0
    with pytest.raises(ValidationFailed):
        CatalogQuery("x" * 201)


async def test_details_and_registry(uc: UseCases, team: Team) -> None:
    probe = await uc.marketplace.get_tool(team.member, PROBE)
    assert probe.installable
    assert {f.name: (f.required, f.secret) for f in probe.config}["PROBE_TOKEN"] == (True, True)
    remote = await uc.marketplace.get_tool(team.member, "test.tesserra-remote-only")
    assert not remote.installable
    assert remote.transports == ["streamable-http"]
    entry = await uc.marketplace.get_registry_entry(team.member, TIME)
    assert entry.name == "io.github.modelcontextprotocol/time"
    assert entry.packages[0].registry_type == "pypi"
    assert (await uc.marketplace.list_registry(team.member, PageRequest())).total == 5
    with pytest.raises(NotFound):
        await uc.marketplace.get_tool(team.member, "nope")
    with pytest.raises(NotFound):
        await uc.marketplace.get_registry_entry(team.member, "nope")


async def test_the_built_in_catalog_is_valid_and_holds_real_pypi_servers() -> None:
    documents = await CatalogFile("builtin").documents()
    entries, skipped = parse_documents(documents)
    assert skipped == []
    pypi = {p.identifier for e in entries for p in e.packages if p.registry_type == "pypi"}
    assert {"mcp-server-time", "mcp-server-git"} <= pypi


def test_parse_reports_and_skips_invalid_entries() -> None:
    good = {
        "name": "a.b/c",
        "description": "d",
        "version": "1",
        "packages": [{"registryType": "pypi", "identifier": "c", "version": "1"}],
    }
    documents = [
        good,
        {"server": {**good, "name": "a.b/wrapped"}, "_meta": {"x": 1}},
        {**good, "name": "no-namespace"},
        {**good, "name": "a.b/nothing", "packages": []},
        {**good, "name": "a.b/badtype", "packages": [{"registryType": "cargo", "identifier": "c", "version": "1"}]},
        {**good, "name": "a.b/c"},
        "not an object",
    ]
    entries, skipped = parse_documents(documents)
    assert [e.id for e in entries] == ["a.b-c", "a.b-wrapped"]
    assert len(skipped) == 5
    assert any("no-namespace" in s for s in skipped)
    assert any("duplicate" in s for s in skipped)


async def test_refresh_applies_valid_entries_in_one_go(
    uc: UseCases, team: Team, admin: Principal, tmp_path: Path
) -> None:
    with pytest.raises(Forbidden):
        await uc.marketplace.refresh_catalog(team.owner)
    source = tmp_path / "registry.json"
    good = {
        "name": "a.b/fresh",
        "description": "Fresh",
        "version": "2",
        "packages": [{"registryType": "pypi", "identifier": "fresh", "version": "2"}],
        "category": "new",
    }
    source.write_text(json.dumps({"servers": [good, {"name": "broken"}]}))
    before = await uc.marketplace.search(team.member, CatalogQuery(), PageRequest())  # now in this worker's cache
    assert before.total == 5
    refresh = dataclasses.replace(uc.marketplace.refresh_catalog, source=CatalogFile(str(source)))
    report = await refresh(admin)
    assert report.loaded == 1
    assert len(report.skipped) == 1
    assert [t.id for t in (await uc.marketplace.search(team.member, CatalogQuery(), PageRequest())).items] == [
        "a.b-fresh"
    ]
    # Nothing valid, or unreadable: the catalog stays as it was.
    source.write_text(json.dumps({"servers": [{"name": "broken"}]}))
    with pytest.raises(Unavailable):
        await refresh(admin)
    source.write_text("{not json")
    with pytest.raises(Unavailable):
        await refresh(admin)
    with pytest.raises(Unavailable):
        await dataclasses.replace(uc.marketplace.refresh_catalog, source=CatalogFile(str(tmp_path / "missing.json")))(
            admin
        )
    assert (await uc.marketplace.search(team.member, CatalogQuery(), PageRequest())).total == 1
    report = await uc.marketplace.refresh_catalog(admin)  # the configured source again
    assert report.loaded == 5


def test_config_defaults_and_coercion() -> None:
    entry = CatalogEntry(
        id="x",
        name="a/x",
        version="1",
        description="x",
        packages=(
            Package(
                registry_type="pypi",
                identifier="x",
                version="1",
                environment_variables=(
                    EnvironmentVariable(name="A", default="1", format="number"),
                    EnvironmentVariable(name="B", is_secret=True),
                    EnvironmentVariable(name="C", format="boolean"),
                ),
            ),
        ),
    )
    assert validate_config(entry, {}) == ({"A": "1"}, {})
    assert validate_config(entry, {"A": 2.5, "B": "s", "C": False}) == ({"A": "2.5", "C": "false"}, {"B": "s"})
    with pytest.raises(ValidationFailed):
        validate_config(entry, {"C": 1})
    with pytest.raises(ValidationFailed):
        validate_config(entry, {"A": True})
    with pytest.raises(ValidationFailed):
        validate_config(entry, {"B": "a\x00b"})


async def test_refresh_from_a_registry_over_http(uc: UseCases, team: Team, admin: Principal) -> None:
    """A loopback HTTP server serving a registry listing, as the official registry's API wraps it."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    listing = {
        "servers": [
            {
                "server": {
                    "name": "io.example/remote-listed",
                    "description": "From the registry",
                    "version": "3.1.0",
                    "packages": [{"registryType": "pypi", "identifier": "remote-listed", "version": "3.1.0"}],
                },
                "_meta": {"io.modelcontextprotocol.registry/official": {"status": "active"}},
            }
        ]
    }

    class Registry(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(listing).encode() if self.path == "/v0/servers" else b"{}"
            self.send_response(200 if self.path == "/v0/servers" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        report = await dataclasses.replace(uc.marketplace.refresh_catalog, source=CatalogFile(f"{base}/v0/servers"))(
            admin
        )
        assert (report.loaded, report.skipped) == (1, [])
        assert report.source == f"{base}/v0/servers"
        found = await uc.marketplace.search(team.member, CatalogQuery(), PageRequest())
        assert [t.id for t in found.items] == ["io.example-remote-listed"]
        with pytest.raises(Unavailable) as caught:
            await dataclasses.replace(uc.marketplace.refresh_catalog, source=CatalogFile(f"{base}/missing"))(admin)
        assert "404" in caught.value.message
    finally:
        httpd.shutdown()
        httpd.server_close()
    with pytest.raises(Unavailable):
        await dataclasses.replace(uc.marketplace.refresh_catalog, source=CatalogFile(f"{base}/v0/servers", timeout=2))(
            admin
        )
    assert (await uc.marketplace.search(team.member, CatalogQuery(), PageRequest())).total == 1


async def test_a_refresh_on_one_worker_reaches_another_workers_searches_after_a_poll(
    uc: UseCases, admin: Principal, team: Team, tmp_path: Path
) -> None:
    worker2 = use_cases(uc.ports)  # same store, its own caches
    await worker2.revocations.poll()
    assert (await worker2.marketplace.search(team.member, CatalogQuery(), PageRequest())).total == 5
    source = tmp_path / "registry.json"
    one = {
        "name": "a.b/only",
        "description": "Only",
        "version": "1",
        "packages": [{"registryType": "pypi", "identifier": "only", "version": "1"}],
        "category": "new",
    }
    source.write_text(json.dumps({"servers": [one]}))
    await dataclasses.replace(uc.marketplace.refresh_catalog, source=CatalogFile(str(source)))(admin)
    assert (await uc.marketplace.search(team.member, CatalogQuery(), PageRequest())).total == 1
    assert (await worker2.marketplace.search(team.member, CatalogQuery(), PageRequest())).total == 5  # cached
    await worker2.revocations.poll()
    assert [t.id for t in (await worker2.marketplace.search(team.member, CatalogQuery(), PageRequest())).items] == [
        "a.b-only"
    ]


async def test_a_catalog_url_is_fetched_over_http_carrying_the_current_trace() -> None:
    """A registry URL is fetched (a real aiohttp server on loopback); with tracing on, the request
    carries the current span's traceparent (the span reaches a real OTLP receiver); a registry that
    answers an error or nothing at all is ``catalog_unreadable``."""
    from aiohttp import web

    from tesserra_adapters.tracing import OtelTracer
    from tesserra_core.ports.tracing import NoTracer
    from tests.servers.otlp import collecting
    from tests.support import free_port

    seen: list[dict[str, str]] = []

    async def registry(request: web.Request) -> web.Response:
        seen.append({name.lower(): value for name, value in request.headers.items()})
        return web.json_response({"servers": [{"name": "io.example/one"}]})

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500)

    app = web.Application()
    app.router.add_get("/v0/servers", registry)
    app.router.add_get("/broken", broken)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}"
    try:
        async with collecting() as collector:
            tracer = OtelTracer(collector.url)
            try:
                with tracer.span("refresh", server=True):
                    documents = await CatalogFile(f"{url}/v0/servers", tracer=tracer).documents()
            finally:
                await asyncio.to_thread(tracer.shutdown)  # flushes the span (the receiver runs on this loop)
            [span] = [s for s in collector.spans if s["name"] == "refresh"]
        assert documents == [{"name": "io.example/one"}]
        version, trace_id, parent, flags = seen[-1]["traceparent"].split("-")
        assert (version, trace_id, parent) == ("00", span["trace"], span["id"])
        assert int(flags, 16) & 1  # sampled (a root span's flags also say its trace id is random: 03)
        assert await CatalogFile(f"{url}/v0/servers", tracer=NoTracer()).documents() == documents
        assert "traceparent" not in seen[-1]
        for unreadable in (f"{url}/broken", f"http://127.0.0.1:{free_port()}/v0/servers"):
            with pytest.raises(Unavailable) as raised:
                await CatalogFile(unreadable).documents()
            assert raised.value.code == "catalog_unreadable"
    finally:
        await runner.cleanup()
