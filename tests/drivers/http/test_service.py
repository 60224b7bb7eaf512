"""/health, /status, the OpenAPI documents, request ids and unknown paths."""

from __future__ import annotations

import asyncio
import os
import re
import time

import httpx

from tests.drivers.http.conftest import Accounts, assert_error

HEALTH_STATES = {"ok", "degraded", "down"}


async def test_health_answers_200_without_credentials(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_status_reports_database_storage_and_docker_each_ok_degraded_or_down(client: httpx.AsyncClient) -> None:
    response = await client.get("/status")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] in HEALTH_STATES
    for component in ("database", "storage", "docker"):
        assert body["components"][component]["status"] in HEALTH_STATES, body
    # The database and the data directory are real and reachable here.
    assert body["components"]["database"]["status"] == "ok"
    assert body["components"]["storage"]["status"] == "ok"


async def test_status_shows_the_runner_leases_to_platform_admins_only(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    admin = await accounts.admin()
    owner = await accounts.tenant_owner("Leases")
    deadline = time.monotonic() + 30
    while True:
        body = (await client.get("/status", headers=admin.bearer)).json()
        runners = {runner["name"]: runner for runner in body.get("runners", [])}
        if "billing-retries" in runners and runners["billing-retries"]["last_run_at"] is not None:
            break
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.1)
    assert {"billing-retries", "housekeeping", "provisioner", "reconciler"} <= set(runners)
    for lease in runners.values():  # every cluster-wide runner, with its holder node, token and last round
        assert lease["held"]
        assert lease["held_here"]  # this test process runs the only server on its database
        assert lease["holder"].endswith(f"/{os.getpid()}")
        assert lease["holder"].startswith(f"{lease['node']}@")
        assert lease["generation"] >= 1
        assert lease["last_run_at"] is not None
        assert lease["last_error"] is None
    for headers in (owner.bearer, {}, {"Authorization": "Bearer not-a-token"}, {"X-API-Key": "tessera_x_y"}):
        answer = await client.get("/status", headers=headers)
        assert answer.status_code == 200, answer.text
        assert "runners" not in answer.json()


async def test_ready_answers_200_without_credentials_while_serving(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "success": True}


async def test_probes_answer_ahead_of_the_stack_as_their_routes_do(client: httpx.AsyncClient) -> None:
    # GET /ready and /health skip the middleware (tesserra_http.probes): same answers, request id included
    answers = {"/ready": {"status": "ready", "success": True}, "/health": {"status": "ok", "success": True}}
    for path, body in answers.items():
        for target in (path, f"{path}?probe=1"):
            response = await client.get(target, headers={"X-Request-Id": "probe-1"})
            assert (response.status_code, response.json()) == (200, body), target
            assert response.headers["content-type"] == "application/json"
            assert response.headers["x-request-id"] == "probe-1"
        assert re.fullmatch(r"[0-9a-f]{32}", (await client.get(path)).headers["x-request-id"])
        # what is not a plain GET still takes the routes: a 405 with the API's error body
        assert_error(await client.post(path, headers={"X-Request-Id": "probe-2"}), 405)


async def test_metrics_are_404_when_no_metrics_token_is_set(client: httpx.AsyncClient, accounts: Accounts) -> None:
    admin = await accounts.admin()
    for headers in ({}, admin.bearer, {"Authorization": "Bearer anything"}):
        assert_error(await client.get("/metrics", headers=headers), 404, "not_found")


async def test_openapi_json_is_31_and_lists_the_auth_routes_with_security_schemes(client: httpx.AsyncClient) -> None:
    for path in ("/openapi.json", "/api/openapi.json"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert "json" in response.headers["content-type"]
        doc = response.json()
        assert doc["openapi"].startswith("3.1"), doc["openapi"]
        for route in ("/api/auth/login", "/api/auth/refresh", "/api/auth/me", "/api/auth/keys/generate"):
            assert route in doc["paths"], (path, route)
        schemes = doc["components"]["securitySchemes"]
        assert {"BearerToken", "TesserraApiKey", "ApiKey"} <= set(schemes)
        assert schemes["TesserraApiKey"]["name"] == "X-Tesserra-Api-Key"
        assert schemes["ApiKey"]["name"] == "X-API-Key"
        assert doc["paths"]["/api/auth/me"]["get"]["security"], "an authenticated route documents its auth"
        assert not doc["paths"]["/api/auth/login"]["post"].get("security"), "login is public"


async def test_swagger_and_redoc_pages_are_served_without_credentials(client: httpx.AsyncClient) -> None:
    for path, marker in (("/api/docs", "swagger"), ("/api-docs", "swagger"), ("/api/redoc", "redoc")):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert marker in response.text.lower(), path


async def test_request_id_is_echoed_on_success_and_in_error_bodies(client: httpx.AsyncClient) -> None:
    ok = await client.get("/health", headers={"X-Request-Id": "trace-ok-123"})
    assert ok.headers["x-request-id"] == "trace-ok-123"
    failed = await client.get("/api/auth/me", headers={"X-Request-Id": "trace-err-456"})
    body = assert_error(failed, 401, "missing_credentials")
    assert body["request_id"] == "trace-err-456"


async def test_request_id_is_generated_when_absent(client: httpx.AsyncClient) -> None:
    first = await client.get("/health")
    second = await client.get("/health")
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_malformed_request_id_is_replaced_not_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-Id": "bad id with spaces<script>"})
    assert response.headers["x-request-id"] != "bad id with spaces<script>"
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_unknown_path_is_404_with_error_body_and_generated_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/no-such-thing")
    body = assert_error(response, 404, "not_found")
    assert re.fullmatch(r"[0-9a-f]{32}", str(body["request_id"]))


async def test_unknown_path_echoes_the_callers_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/no-such-thing", headers={"X-Request-Id": "trace-404"})
    body = assert_error(response, 404, "not_found")
    assert body["request_id"] == "trace-404"


async def test_wrong_method_is_405_with_error_body(client: httpx.AsyncClient) -> None:
    response = await client.delete("/health", headers={"X-Request-Id": "trace-405"})
    body = assert_error(response, 405)
    assert body["request_id"] == "trace-405"
