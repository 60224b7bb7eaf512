"""Routes that parse a JSON body take JSON and nothing else: any other declared type (or none, with a
body) is 415 ``unsupported_media_type`` before the body is parsed; upload routes keep their types."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.drivers.http.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Account, Accounts, assert_error

PROJECTS = "/api/projetos"


def _project() -> bytes:
    return json.dumps({"name": f"site {uuid.uuid4().hex[:6]}"}).encode()


async def _new_project(client: httpx.AsyncClient, owner: Account) -> str:
    made = await client.post(PROJECTS, content=_project(), headers={**owner.bearer, "Content-Type": "application/json"})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonx",
        "text/json",
        "",
        None,
    ],
)
async def test_a_json_body_declared_as_anything_but_json_is_415(
    client: httpx.AsyncClient, accounts: Accounts, content_type: str | None
) -> None:
    owner = await accounts.tenant_owner()
    headers = dict(owner.bearer)
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = await client.post(PROJECTS, content=_project(), headers=headers)
    body = assert_error(response, 415, "unsupported_media_type")
    assert "application/json" in str(body["detail"])
    listed = await client.get(PROJECTS, headers=owner.bearer)
    assert listed.json()["total"] == 0  # nothing was created


async def test_a_public_json_route_refuses_text_plain_too(client: httpx.AsyncClient) -> None:
    credentials = json.dumps({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).encode()
    response = await client.post("/api/auth/login", content=credentials, headers={"Content-Type": "text/plain"})
    assert_error(response, 415, "unsupported_media_type")


async def test_a_patch_with_form_data_is_415(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    project_id = await _new_project(client, owner)
    response = await client.patch(f"{PROJECTS}/{project_id}", data={"name": "renamed"}, headers=owner.bearer)
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        "application/merge-patch+json",
        "application/vnd.tesserra+json; version=1",
    ],
)
async def test_json_and_any_json_suffixed_type_are_accepted(
    client: httpx.AsyncClient, accounts: Accounts, content_type: str
) -> None:
    owner = await accounts.tenant_owner()
    created = await client.post(PROJECTS, content=_project(), headers={**owner.bearer, "Content-Type": content_type})
    assert created.status_code == 201, created.text
    renamed = await client.patch(
        f"{PROJECTS}/{created.json()['id']}",
        content=json.dumps({"name": "renamed"}).encode(),
        headers={**owner.bearer, "Content-Type": content_type},
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "renamed"


async def test_a_bodyless_request_needs_no_content_type(client: httpx.AsyncClient, accounts: Accounts) -> None:
    """Routes without a JSON body, and empty bodies, are not the media type's business."""
    owner = await accounts.tenant_owner()
    logout = await client.post("/api/auth/logout", headers=owner.bearer)
    assert logout.status_code == 204, logout.text
    other = await accounts.tenant_owner()
    empty = await client.post(PROJECTS, headers=other.bearer)  # no body: the usual 400, not 415
    assert_error(empty, 400)
    empty_form = await client.post(
        PROJECTS, content=b"", headers={**other.bearer, "Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_error(empty_form, 400)


async def test_upload_routes_keep_their_own_types(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    project_id = await _new_project(client, owner)
    url = f"{PROJECTS}/{project_id}/arquivos"
    multipart = await client.post(url, files={"file": ("notes.txt", b"hello", "text/plain")}, headers=owner.bearer)
    assert multipart.status_code == 201, multipart.text
    raw = await client.post(
        url,
        params={"filename": "data.json"},
        content=b'{"a": 1}',
        headers={**owner.bearer, "Content-Type": "text/plain"},
    )
    assert raw.status_code == 201, raw.text


async def test_the_openapi_documents_415_on_json_routes_only(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "415" in paths["/api/projetos"]["post"]["responses"]
    assert "415" in paths["/api/projetos/{project_id}"]["patch"]["responses"]
    assert "415" in paths["/api/auth/login"]["post"]["responses"]
    assert "415" not in paths["/api/projetos/{project_id}/arquivos"]["post"]["responses"]
    assert "415" not in paths["/api/auth/logout"]["post"]["responses"]
