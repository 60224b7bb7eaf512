"""/api/projetos/{id}/arquivos over real sockets: raw and multipart uploads streamed to a local
directory, downloads with their type and RFC 6266 disposition, names that try to be paths, the
per-file limit (413) and the storage quota (402) enforced while the bytes arrive."""

from __future__ import annotations

import hashlib
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.storage import DatabaseFileStorage
from tesserra_adapters.storage import LocalFileStorage
from tesserra_core.domain.files import ProjectFile
from tests import support
from tests.drivers.http.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Account, Accounts, assert_error
from tests.support import LiveServer, live_server


async def new_project(client: httpx.AsyncClient, owner: Account) -> str:
    made = await client.post("/api/projetos", json={"name": f"site {uuid.uuid4().hex[:6]}"}, headers=owner.bearer)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def files_url(project_id: str) -> str:
    return f"/api/projetos/{project_id}/arquivos"


def storage_root(server: LiveServer) -> Path:
    storage = server.uc.ports.file_storage
    assert isinstance(storage, LocalFileStorage)
    return storage.root


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def stored_keys(server: LiveServer) -> list[str]:
    """The keys of the stored objects, from the storage itself: its rows (the database, on PostgreSQL) or
    its files (a directory, on SQLite), partial uploads included as files."""
    storage = server.uc.ports.file_storage
    if isinstance(storage, DatabaseFileStorage):
        async with storage.engine.connect() as conn:
            return sorted((await conn.execute(select(t.stored_objects.c.key))).scalars())
    root = storage_root(server)
    return [str(p.relative_to(root)) for p in stored_files(root)]


async def leftovers(server: LiveServer) -> int:
    """What unfinished uploads left behind: partial files, or chunk rows no stored object names."""
    storage = server.uc.ports.file_storage
    if isinstance(storage, DatabaseFileStorage):
        named = select(t.stored_objects.c.upload_id)
        unnamed = select(func.count()).select_from(t.file_chunks).where(t.file_chunks.c.upload_id.not_in(named))
        async with storage.engine.connect() as conn:
            return int((await conn.execute(unnamed)).scalar_one())
    return len(stored_files(storage_root(server) / ".partial"))


async def stored_bytes(server: LiveServer, key: str) -> bytes:
    return b"".join([chunk async for chunk in server.uc.ports.file_storage.read(key)])


async def test_raw_upload_list_download_delete(
    client: httpx.AsyncClient, accounts: Accounts, server: LiveServer
) -> None:
    owner = await accounts.tenant_owner()
    project = await new_project(client, owner)
    content = b"%PDF-1.7\n" + bytes(range(256)) * 1000
    name = 'relatório final; "v2".pdf'
    up = await client.post(
        files_url(project),
        params={"filename": name},
        content=content,
        headers={**owner.bearer, "Content-Type": "application/pdf"},
    )
    assert up.status_code == 201, up.text
    meta = up.json()
    assert (meta["name"], meta["size"], meta["content_type"]) == (name, len(content), "application/pdf")
    assert meta["sha256"] == hashlib.sha256(content).hexdigest()
    assert (await client.get(files_url(project), headers=owner.bearer)).json()["items"] == [meta]

    down = await client.get(f"{files_url(project)}/{meta['id']}", headers=owner.bearer)
    assert down.status_code == 200
    assert down.content == content
    assert down.headers["content-type"].startswith("application/pdf")
    assert down.headers["content-length"] == str(len(content))
    assert down.headers["x-content-type-options"] == "nosniff"
    disposition = down.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="relat_rio final_ _v2_.pdf"; ')
    assert disposition.endswith("filename*=UTF-8''" + urllib.parse.quote(name, safe=""))
    assert urllib.parse.unquote(disposition.split("UTF-8''", 1)[1]) == name
    key = f"{owner.tenant_id}/{project}/{meta['id']}"
    assert await stored_bytes(server, key) == content

    twice = await client.post(files_url(project), params={"filename": name}, content=b"x", headers=owner.bearer)
    assert_error(twice, 409, "file_exists")
    assert (await client.delete(f"{files_url(project)}/{meta['id']}", headers=owner.bearer)).status_code == 204
    assert not await server.uc.ports.file_storage.exists(key)
    assert key not in await stored_keys(server)
    assert_error(await client.get(f"{files_url(project)}/{meta['id']}", headers=owner.bearer), 404, "file_not_found")


async def test_multipart_upload_streams_the_file_part(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    project = await new_project(client, owner)
    content = b"name,price\npao,1.50\n" * 5000
    up = await client.post(
        files_url(project),
        data={"note": "ignored field"},
        files={"file": ("tabela de preços.csv", content, "text/csv")},
        headers=owner.bearer,
    )
    assert up.status_code == 201, up.text
    meta = up.json()
    assert (meta["name"], meta["size"], meta["content_type"]) == ("tabela de preços.csv", len(content), "text/csv")
    assert meta["sha256"] == hashlib.sha256(content).hexdigest()
    down = await client.get(f"{files_url(project)}/{meta['id']}", headers=owner.bearer)
    assert down.content == content
    guessed = await client.post(
        files_url(project), params={"filename": "logo.png"}, content=b"\x89PNG", headers=owner.bearer
    )
    assert guessed.json()["content_type"] == "image/png"
    no_file = await client.post(files_url(project), data={"only": "fields"}, files={}, headers=owner.bearer)
    assert_error(no_file, 422, "filename_required")  # a form, not multipart: a raw body without ?filename=


TRAVERSALS = [
    "../../etc/passwd",
    "/etc/passwd",
    "..\\..\\windows\\win.ini",
    "a/b.txt",
    "..",
    ".",
    "evil\x00.txt",
    "line\nbreak.txt",
    "tab\there",
    "\u202ereversed.txt",
    " leading-space",
    "",
]


@pytest.mark.parametrize("name", TRAVERSALS, ids=range(len(TRAVERSALS)))
async def test_names_that_are_paths_or_hide_characters_are_400(
    client: httpx.AsyncClient, accounts: Accounts, server: LiveServer, shared_owner: Account, name: str
) -> None:
    owner = shared_owner
    project = await _shared_project(client, owner)
    before = await stored_keys(server)
    raw = await client.post(
        f"{files_url(project)}?filename={urllib.parse.quote(name, safe='')}", content=b"x", headers=owner.bearer
    )
    assert_error(raw, 400)
    multipart = await client.post(
        files_url(project),
        content=raw_multipart(name.encode()),  # raw bytes: httpx would percent-encode some of them
        headers={**owner.bearer, "Content-Type": "multipart/form-data; boundary=B"},
    )
    assert multipart.status_code == 400, multipart.text
    assert await stored_keys(server) == before


async def test_encoded_traversals_are_decoded_once_and_refused_or_kept_literal(
    client: httpx.AsyncClient, server: LiveServer, shared_owner: Account
) -> None:
    owner = shared_owner
    project = await _shared_project(client, owner)
    once = await client.post(
        f"{files_url(project)}?filename=..%2F..%2Fetc%2Fpasswd", content=b"x", headers=owner.bearer
    )
    assert_error(once, 400, "validation_failed")  # ?filename='s pattern (no separators), as /openapi.json states
    star = (
        b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''..%2F..%2Fevil.txt\r\n"
        b"\r\nx\r\n--B--\r\n"
    )
    multipart = await client.post(
        files_url(project), content=star, headers={**owner.bearer, "Content-Type": "multipart/form-data; boundary=B"}
    )
    assert_error(multipart, 400, "invalid_filename")
    twice = await client.post(f"{files_url(project)}?filename=..%252F..%252Fpasswd", content=b"x", headers=owner.bearer)
    assert twice.status_code == 201, twice.text
    assert twice.json()["name"] == "..%2F..%2Fpasswd"  # a harmless literal name; storage keys are ids
    assert all(key.rpartition("/")[2] not in ("passwd", "evil.txt") for key in await stored_keys(server))
    if isinstance(server.uc.ports.file_storage, LocalFileStorage):
        root = storage_root(server)
        assert all(p.resolve().is_relative_to(root.resolve()) for p in stored_files(root))
        assert not (root.parent / "etc").exists()


def raw_multipart(filename: bytes, content: bytes = b"x") -> bytes:
    disposition = b'Content-Disposition: form-data; name="file"; filename="' + filename + b'"'
    return b"--B\r\n" + disposition + b"\r\nContent-Type: text/plain\r\n\r\n" + content + b"\r\n--B--\r\n"


_projects: dict[str, str] = {}


async def _shared_project(client: httpx.AsyncClient, owner: Account) -> str:
    if owner.tenant_id not in _projects:
        _projects[owner.tenant_id] = await new_project(client, owner)
    return _projects[owner.tenant_id]


async def test_files_of_an_unknown_project_are_404(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    missing = files_url("01NOSUCHPROJECT0000000000")
    assert_error(await client.get(missing, headers=owner.bearer), 404, "project_not_found")
    up = await client.post(missing, params={"filename": "a.txt"}, content=b"x", headers=owner.bearer)
    assert_error(up, 404, "project_not_found")


@pytest.fixture(scope="module", params=["directory", "database"])
async def small_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveServer]:
    """A server whose uploads may hold at most 64 KiB each, kept in a directory or in the database."""
    tmp = tmp_path_factory.mktemp("small-uploads")
    url = f"sqlite+aiosqlite:///{tmp / 'tesserra.db'}"
    settings = support.test_settings(tmp, url, max_upload_bytes=64 * 1024, file_storage=request.param)
    async with live_server(settings) as live:
        assert await live.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
        yield live


async def _chunks(total: int, size: int = 16 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        yield b"z" * piece
        sent += piece


async def test_a_file_over_the_limit_is_413_and_nothing_is_kept(small_server: LiveServer) -> None:
    owner = await Accounts(small_server.uc).tenant_owner()
    async with httpx.AsyncClient(base_url=small_server.url, timeout=20.0) as client:
        project = await new_project(client, owner)
        fits = await client.post(
            files_url(project), params={"filename": "fits.bin"}, content=_chunks(64 * 1024), headers=owner.bearer
        )
        assert fits.status_code == 201, fits.text
        over = await client.post(
            files_url(project), params={"filename": "big.bin"}, content=_chunks(300 * 1024), headers=owner.bearer
        )
        assert_error(over, 413, "file_too_large")
        multipart = await client.post(
            files_url(project),
            files={"file": ("big.bin", b"z" * (200 * 1024), "application/octet-stream")},
            headers=owner.bearer,
        )
        assert_error(multipart, 413, "file_too_large")
        huge = await client.post(
            files_url(project), params={"filename": "huge.bin"}, content=b"z" * (2 * 1024 * 1024), headers=owner.bearer
        )
        assert huge.status_code == 413  # Content-Length past the route's limit: refused before reading
        listed = (await client.get(files_url(project), headers=owner.bearer)).json()
    assert [f["name"] for f in listed["items"]] == ["fits.bin"]
    assert [key.rpartition("/")[2] for key in await stored_keys(small_server)] == [fits.json()["id"]]
    assert await leftovers(small_server) == 0


async def test_the_storage_quota_is_402_while_streaming_and_nothing_is_kept(small_server: LiveServer) -> None:
    uc = small_server.uc
    owner = await Accounts(uc).tenant_owner()
    async with httpx.AsyncClient(base_url=small_server.url, timeout=20.0) as client:
        project = await new_project(client, owner)
        almost_full = 1024**3 - 20_000  # the free plan's storage_bytes, less 20 kB
        filler = ProjectFile(
            id=uc.ports.ids.new(),
            tenant_id=owner.tenant_id,
            project_id=project,
            name="filler",
            size=almost_full,
            sha256="0" * 64,
            content_type="application/octet-stream",
            storage_key=f"{owner.tenant_id}/{project}/filler",
            created_at=uc.ports.clock.now(),
        )
        async with uc.ports.uow() as uow:
            await uow.project_files.add(filler)
            await uow.commit()
        before = await stored_keys(small_server)
        over = await client.post(
            files_url(project), params={"filename": "one-too-many.bin"}, content=_chunks(50_000), headers=owner.bearer
        )
        body = assert_error(over, 402)
        assert "storage_bytes" in str(body["detail"])
        small = await client.post(
            files_url(project), params={"filename": "ok.bin"}, content=b"z" * 10_000, headers=owner.bearer
        )
        assert small.status_code == 201, small.text
    after = await stored_keys(small_server)
    assert [key.rpartition("/")[2] for key in after if key not in before] == [small.json()["id"]]
    assert await leftovers(small_server) == 0
