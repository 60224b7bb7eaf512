"""GET /metrics (issue 15): Prometheus text, correct across forked workers, readable only with the
metrics token; request series labelled by route template, never by raw path. A real Prometheus
(Debian ``prometheus``) scrapes a two-worker `tesserra serve` and is asked for the count back."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from tests.cli.served import Server, serving
from tests.servers.prometheus import Result, prometheus, prometheus_binary

TOKEN = "metrics-token-for-the-tests-0123456789"
ADMIN = {"email": "admin@tesserra.local", "password": "hardening-password-1"}
REQUESTS = "tesserra_http_request_duration_seconds_count"


def _samples(text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` for every sample of ``name`` in Prometheus text."""
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(\{{.*\}})? (\S+)", line)
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


async def _bearer(http: httpx.AsyncClient) -> dict[str, str]:
    login = await http.post("/api/auth/login", json=ADMIN)
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def _scrape(http: httpx.AsyncClient) -> str:
    answer = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return answer.text


async def _worker_pids(server: Server, workers: int) -> list[int]:
    for _ in range(300):
        pids = [int(p) for p in re.findall(r"listening on .* \(pid (\d+)", server.log.read_text())]
        if len(pids) == workers:
            return pids
        await asyncio.sleep(0.1)
    pytest.fail(f"{workers} workers did not start:\n{server.log.read_text()}")


def _fresh_connections(server: Server) -> httpx.AsyncClient:
    """A client that opens a connection per request, so that requests spread over the workers."""
    once = httpx.Limits(max_keepalive_connections=0)
    return httpx.AsyncClient(base_url=server.url, timeout=30, limits=once, headers={"Connection": "close"})


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with serving(tmp_path, "--workers", "2", TESSERRA_METRICS_TOKEN=TOKEN) as served:
        await _worker_pids(served, 2)
        yield served


# -- a real Prometheus ------------------------------------------------------------------------------


def _prometheus_config(target_port: int) -> str:
    """Two jobs on the same server: one with the token, one with a wrong token (which must get nothing)."""
    return f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: tesserra
    static_configs: [{{targets: ["127.0.0.1:{target_port}"]}}]
    authorization: {{type: Bearer, credentials: "{TOKEN}"}}
  - job_name: intruder
    static_configs: [{{targets: ["127.0.0.1:{target_port}"]}}]
    authorization: {{type: Bearer, credentials: "{TOKEN}-wrong"}}
"""


def _equals(expected: float) -> Callable[[Result], bool]:
    return lambda result: bool(result) and float(result[0]["value"][1]) == expected


async def test_prometheus_scrapes_both_workers_and_counts_every_request(server: Server, tmp_path: Path) -> None:
    prometheus_binary()  # or skip (fail under TESSERRA_TEST_REQUIRE_ALL=1) before any work
    workers = await _worker_pids(server, 2)

    def written() -> set[int]:
        """The workers that wrote samples (each its own files, which a scrape merges)."""
        names = " ".join(os.listdir(tmp_path / "data/metrics"))
        return {int(m) for m in re.findall(r"histogram_(\d+)\.db", names)}

    # Each request on a new connection, which ever worker accepts first takes: at least 40, and on
    # until both workers have answered some (a loaded machine can leave one worker unscheduled for
    # a while; a CI run once saw one worker take all of 40).
    sent = 0
    async with _fresh_connections(server) as http:
        bearer = await _bearer(http)
        while sent < 40 or (written() != set(workers) and sent < 1000):
            assert (await http.get("/api/auth/me", headers=bearer)).status_code == 200
            sent += 1
    assert written() == set(workers), (written(), workers, sent)

    async with prometheus(tmp_path / "prometheus", _prometheus_config(server.port)) as scraper:
        await scraper.until(f'sum({REQUESTS}{{route="/api/auth/me",status="200"}})', _equals(sent), within=90)
        await scraper.until('up{job="tesserra"}', _equals(1))
        await scraper.until('up{job="intruder"}', _equals(0))  # a wrong token scrapes nothing
        assert await scraper.query('{job="intruder",__name__!="up",__name__!~"scrape_.*"}') == []


# -- who may read them ------------------------------------------------------------------------------


async def test_metrics_answer_only_the_metrics_token(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        admin = await _bearer(http)  # a platform admin's own credentials are not the metrics token
        for headers in (
            {},
            admin,
            {"Authorization": f"Bearer {TOKEN}x"},
            {"Authorization": f"Bearer {TOKEN[:-1]}"},
            {"Authorization": TOKEN},
            {"Authorization": f"Basic {TOKEN}"},
            {"X-API-Key": TOKEN},
        ):
            refused = await http.get("/metrics", headers=headers)
            assert refused.status_code == 401, (headers, refused.text)
            assert refused.json()["code"] == "metrics_token"
            assert "tesserra_" not in refused.text
        latin = await http.get("/metrics", headers=[(b"authorization", f"Bearer {TOKEN}\xe9".encode("latin-1"))])
        assert latin.status_code == 401, latin.text
        assert "# TYPE tesserra_http_request_duration_seconds histogram" in await _scrape(http)


async def test_without_a_token_metrics_are_off_and_answer_404(tmp_path: Path) -> None:
    async with serving(tmp_path) as server, httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        for headers in ({}, {"Authorization": "Bearer anything-at-all-0123456789"}, await _bearer(http)):
            answer = await http.get("/metrics", headers=headers)
            assert answer.status_code == 404, answer.text
            assert answer.json()["code"] == "not_found"
    assert not (tmp_path / "data/metrics").exists()


# -- labels ------------------------------------------------------------------------------------------


async def test_requests_are_labelled_by_route_template_never_by_raw_path(server: Server) -> None:
    ids = [f"zz{n:04d}notaproject" for n in range(25)]
    async with _fresh_connections(server) as http:
        bearer = await _bearer(http)
        for one in ids:
            assert (await http.get(f"/api/projetos/{one}", headers=bearer)).status_code == 404
            assert (await http.get(f"/no/such/{one}/path?x={one}")).status_code == 404
        assert (await http.request("PURGE", "/api/auth/me", headers=bearer)).status_code in (400, 405)
        for one in ids[:3]:  # the mounts: /mcp and the sandbox proxy
            assert (await http.post(f"/mcp/{one}", json={})).status_code in (401, 404, 406)
            assert (await http.get(f"/api/runtime/proxy/{one}/x")).status_code in (401, 404)
        text = await _scrape(http)
    requests = _samples(text, REQUESTS)
    assert requests['{method="GET",route="/api/projetos/{project_id}",status="404"}'] == len(ids)
    assert requests['{method="GET",route="<unmatched>",status="404"}'] == len(ids)
    assert not any(one in text for one in ids), "a raw path reached a label"
    mounts = {labels: n for labels, n in requests.items() if "/mcp" in labels or "/api/runtime/proxy" in labels}
    assert sum(mounts.values()) == 6, requests
    assert {re.search(r'route="([^"]*)"', labels).group(1) for labels in mounts} == {"/mcp", "/api/runtime/proxy"}  # type: ignore[union-attr]
    routes = {re.search(r'route="([^"]*)"', labels).group(1) for labels in requests}  # type: ignore[union-attr]
    assert all(route.startswith("/") or route == "<unmatched>" for route in routes), routes
    methods = {re.search(r'method="([^"]*)"', labels).group(1) for labels in requests}  # type: ignore[union-attr]
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}, methods
    # the other families are there from the start
    families = ("tesserra_db_pool_connections_in_use", "tesserra_db_pool_connections_limit", "tesserra_workloads")
    for family in (*families, "tesserra_runner_lease_held"):
        assert f"# TYPE {family} gauge" in text, family


# -- rate limits, and a worker that dies ---------------------------------------------------------------


async def test_rejections_are_counted_and_a_dead_workers_gauges_go_while_its_counts_stay(server: Server) -> None:
    workers = await _worker_pids(server, 2)
    async with _fresh_connections(server) as http:
        wrong = {"email": "nobody@example.com", "password": "wrong-password"}
        statuses = [(await http.post("/api/auth/login", json=wrong)).status_code for _ in range(8)]
        assert statuses.count(429) >= 3, statuses  # 5 per 15 minutes per address, shared by the workers
        before = await _scrape(http)
        assert _samples(before, "tesserra_rate_limit_rejections_total") == {'{rule="login"}': statuses.count(429)}
        assert _samples(before, "tesserra_db_pool_connections_limit") == {"": 20.0}  # 10 per worker
        logins = _samples(before, REQUESTS)['{method="POST",route="/api/auth/login",status="429"}']

        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:
            with_one = await _scrape(http)  # the survivor answers: the socket is shared
            if _samples(with_one, "tesserra_db_pool_connections_limit") == {"": 10.0}:
                break
            assert time.monotonic() < deadline, with_one
            await asyncio.sleep(0.2)
    # the dead worker's requests still count: counters never go back
    assert _samples(with_one, REQUESTS)['{method="POST",route="/api/auth/login",status="429"}'] == logins
