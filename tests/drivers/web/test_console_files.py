"""A project's files, health and live status in the console, over a real socket: an upload and download round
trip (bytes compared), names that try to be paths, uploads past the per-file limit (413, nothing kept), a form
without its token, another tenant's project and files (404 pages), a viewer who sees no write controls and whom
the server refuses anyway; the health page; and a resource's status change, made through the use case, that
reaches an open live stream (read with httpx)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tesserra_core.domain.identity import ConsoleSession, Principal, Role
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.resources import DesiredState, ResourceStatus
from tesserra_core.errors import NotFound
from tesserra_core.facade import UseCases
from tesserra_core.usecases.projects import NewProject
from tesserra_core.usecases.resources import NewResource, ResourceChanges
from tesserra_http.readiness import Readiness
from tesserra_web.live import Snapshot, changes, frame
from tesserra_web.shared_reads import SharedReads
from tesserra_web.web import Console, LiveLimits
from tests import support
from tests.drivers.http.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, Account, Accounts
from tests.drivers.web.conftest import COOKIE, ConsoleClient
from tests.support import LiveServer, live_server

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
async def files_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    """A server whose uploads may hold at most 64 KiB each; every console here signs in from 127.0.0.1."""
    tmp = tmp_path_factory.mktemp("console-files")
    settings = support.test_settings(
        tmp, f"sqlite+aiosqlite:///{tmp / 'tesserra.db'}", max_upload_bytes=LIMIT, rate_limit_scale=100.0
    )
    async with live_server(settings) as live:
        assert await live.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
        yield live


@pytest.fixture(scope="module")
def team(files_server: LiveServer) -> Accounts:
    return Accounts(files_server.uc)


@pytest.fixture
async def web(files_server: LiveServer) -> AsyncIterator[ConsoleClient]:
    async with httpx.AsyncClient(base_url=files_server.url, timeout=30.0) as http:
        yield ConsoleClient(http)


async def _project(uc_server: LiveServer, owner: Account) -> tuple[Principal, str]:
    actor = await uc_server.uc.authenticate(owner.access)
    project = await uc_server.uc.projects.create(actor, NewProject(name=f"files-{os.urandom(3).hex()}"))
    return actor, project.id


async def _upload(
    web: ConsoleClient, project_id: str, name: str, content: bytes, *, csrf: str | None = "", header: bool = False
) -> httpx.Response:
    """The upload form as a browser posts it: the token field first, then the file (or the token as the
    X-CSRF-Token header, as console.js sends it)."""
    headers = {"Origin": web.origin, **({"Cookie": f"{COOKIE}={web.session}"} if web.session else {})}
    data = {}
    if csrf is not None and header:
        headers["X-CSRF-Token"] = csrf or web.csrf
    elif csrf is not None:
        data["csrf"] = csrf or web.csrf
    files = {"file": (name, content, "application/octet-stream")}
    return await web.http.post(f"/console/projects/{project_id}/files", data=data, files=files, headers=headers)


async def _by_hand(web: ConsoleClient, project_id: str, disposition: str, content: bytes) -> httpx.Response:
    """The upload form's body with the file part's Content-Disposition written by hand, as a browser may send
    it (a client library escapes or leaves out some of these)."""
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{web.csrf}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; {disposition}\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {
        "Origin": web.origin,
        "Cookie": f"{COOKIE}={web.session}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
    }
    return await web.http.post(f"/console/projects/{project_id}/files", content=body, headers=headers)


async def test_upload_list_download_and_delete(web: ConsoleClient, files_server: LiveServer, team: Accounts) -> None:
    owner = await team.tenant_owner()
    actor, project_id = await _project(files_server, owner)
    await web.sign_in(owner.email, PASSWORD)
    page = await web.get(f"/console/projects/{project_id}/files")
    assert page.status_code == 200
    assert "This project has no files yet." in page.text
    assert 'enctype="multipart/form-data"' in page.text
    assert "data-upload" in page.text
    content = os.urandom(50_000)
    stored = await _upload(web, project_id, "report é.bin", content)
    assert stored.status_code == 303, stored.text
    assert stored.headers["location"].startswith(f"/console/projects/{project_id}/files?uploaded=")
    by_header = await _upload(web, project_id, "second.txt", b"hello", header=True)  # as console.js sends it
    assert by_header.status_code == 303, by_header.text

    listed = await web.get(f"/console/projects/{project_id}/files")
    assert "report é.bin" in listed.text
    assert "second.txt" in listed.text
    files = (await files_server.uc.files.list(actor, project_id, PageRequest())).items
    report = next(f for f in files if f.name == "report é.bin")
    assert f'href="/console/projects/{project_id}/files/{report.id}"' in listed.text

    download = await web.get(f"/console/projects/{project_id}/files/{report.id}")
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"report _.bin\"; filename*=UTF-8''report%20%C3%A9.bin"
    )
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in download.headers.get_list("content-security-policy")
    assert download.headers["content-type"].startswith("application/octet-stream")

    deleted = await web.post(f"/console/projects/{project_id}/files/{report.id}/delete")
    assert deleted.status_code == 303
    assert [f.name for f in (await files_server.uc.files.list(actor, project_id, PageRequest())).items] == [
        "second.txt"
    ]
    gone = await web.get(f"/console/projects/{project_id}/files/{report.id}")
    assert gone.status_code == 404
    assert "Not found" in gone.text


@pytest.mark.parametrize(
    "disposition",
    [
        'filename="../../etc/passwd"',
        "filename*=UTF-8''..%2F..%2Fetc%2Fpasswd",
        'filename="a/b.txt"',
        'filename=".."',
        "filename*=UTF-8''x%5Cy.txt",
        "filename*=UTF-8''bad%01name",
    ],
)
async def test_names_that_are_paths_are_refused(
    web: ConsoleClient, files_server: LiveServer, team: Accounts, disposition: str
) -> None:
    owner = await team.tenant_owner()
    actor, project_id = await _project(files_server, owner)
    await web.sign_in(owner.email, PASSWORD)
    await web.get(f"/console/projects/{project_id}/files")
    refused = await _by_hand(web, project_id, disposition, b"data")
    assert refused.status_code == 400, refused.text
    assert "this file was not stored" in refused.text
    assert "path separators" in refused.text
    assert (await files_server.uc.files.list(actor, project_id, PageRequest())).total == 0


async def test_uploads_past_the_limit_are_413_and_nothing_is_kept(
    web: ConsoleClient, files_server: LiveServer, team: Accounts
) -> None:
    owner = await team.tenant_owner()
    actor, project_id = await _project(files_server, owner)
    await web.sign_in(owner.email, PASSWORD)
    await web.get(f"/console/projects/{project_id}/files")
    counted = await _upload(web, project_id, "big.bin", b"z" * (LIMIT + 1))  # counted as it streams
    assert counted.status_code == 413, counted.text
    assert f"larger than the {LIMIT} bytes" in counted.text
    assert 'role="alert"' in counted.text
    declared = await _upload(web, project_id, "huge.bin", b"z" * (3 * LIMIT))  # refused by its Content-Length
    assert declared.status_code == 413, declared.text
    assert f"larger than the {LIMIT} bytes" in declared.text
    assert (await files_server.uc.files.list(actor, project_id, PageRequest())).total == 0
    empty = await _by_hand(web, project_id, 'filename=""', b"")  # as a browser sends the form without a file
    assert empty.status_code == 400
    assert "choose a file" in empty.text


async def test_an_upload_needs_the_forms_token_and_this_origin(
    web: ConsoleClient, files_server: LiveServer, team: Accounts
) -> None:
    owner = await team.tenant_owner()
    actor, project_id = await _project(files_server, owner)
    await web.sign_in(owner.email, PASSWORD)
    await web.get(f"/console/projects/{project_id}/files")
    assert (await _upload(web, project_id, "a.txt", b"x", csrf=None)).status_code == 403
    assert (await _upload(web, project_id, "a.txt", b"x", csrf="forged")).status_code == 403
    assert (await _upload(web, project_id, "a.txt", b"x", csrf="forged", header=True)).status_code == 403
    foreign = await web.http.post(
        f"/console/projects/{project_id}/files",
        data={"csrf": web.csrf},
        files={"file": ("a.txt", b"x")},
        headers={"Origin": "https://evil.example", "Cookie": f"{COOKIE}={web.session}"},
    )
    assert foreign.status_code == 403
    assert (await files_server.uc.files.list(actor, project_id, PageRequest())).total == 0


async def test_another_tenants_project_and_files_are_404_pages(
    web: ConsoleClient, files_server: LiveServer, team: Accounts
) -> None:
    owner = await team.tenant_owner()
    actor, project_id = await _project(files_server, owner)
    await web.sign_in(owner.email, PASSWORD)
    await web.get(f"/console/projects/{project_id}/files")
    assert (await _upload(web, project_id, "mine.txt", b"secret")).status_code == 303
    file_id = (await files_server.uc.files.list(actor, project_id, PageRequest())).items[0].id

    stranger = await team.tenant_owner()
    other = ConsoleClient(web.http)
    await other.sign_in(stranger.email, PASSWORD)
    base = f"/console/projects/{project_id}"
    for target in (
        f"{base}/files",
        f"{base}/files/{file_id}",
        f"{base}/health",
        f"/console/live/projects/{project_id}",
    ):
        page = await other.get(target)
        assert page.status_code == 404, target
        assert "Not found" in page.text
        assert "secret" not in page.text
    await other.get("/console/projects")
    assert (await other.post(f"{base}/files/{file_id}/delete")).status_code == 404
    assert (await _upload(other, project_id, "theirs.txt", b"x")).status_code == 404
    assert [f.name for f in (await files_server.uc.files.list(actor, project_id, PageRequest())).items] == ["mine.txt"]


async def test_a_viewer_sees_no_write_controls_and_the_server_refuses_them(
    web: ConsoleClient, files_server: LiveServer, team: Accounts
) -> None:
    owner = await team.tenant_owner()
    actor, project_id = await _project(files_server, owner)
    await web.sign_in(owner.email, PASSWORD)
    await web.get(f"/console/projects/{project_id}/files")
    assert (await _upload(web, project_id, "kept.txt", b"keep")).status_code == 303
    file_id = (await files_server.uc.files.list(actor, project_id, PageRequest())).items[0].id

    viewer = await team.member(owner.tenant_id, Role.VIEWER)
    watcher = ConsoleClient(web.http)
    await watcher.sign_in(viewer.email, PASSWORD)
    page = await watcher.get(f"/console/projects/{project_id}/files")
    assert page.status_code == 200
    assert "kept.txt" in page.text
    assert "data-upload" not in page.text
    assert "/delete" not in page.text
    assert (await watcher.get(f"/console/projects/{project_id}/files/{file_id}")).content == b"keep"
    refused = await _upload(watcher, project_id, "new.txt", b"x")
    assert refused.status_code == 403
    assert "Not allowed" in refused.text
    assert (await watcher.post(f"/console/projects/{project_id}/files/{file_id}/delete")).status_code == 403
    assert [f.name for f in (await files_server.uc.files.list(actor, project_id, PageRequest())).items] == ["kept.txt"]


async def test_the_health_page_shows_each_resources_check(
    web: ConsoleClient, files_server: LiveServer, team: Accounts
) -> None:
    owner = await team.tenant_owner()
    actor, project_id = await _project(files_server, owner)
    await web.sign_in(owner.email, PASSWORD)
    empty = await web.get(f"/console/projects/{project_id}/health")
    assert empty.status_code == 200
    assert "Nothing to check" in empty.text
    await files_server.uc.resources.create(actor, project_id, NewResource(type="object_bucket", name="assets"))
    await _until(files_server, actor, project_id, ResourceStatus.RUNNING)
    page = await web.get(f"/console/projects/{project_id}/health")
    assert page.status_code == 200
    assert "<td>assets</td>" in page.text
    assert 'class="status-ok"' in page.text
    assert 'aria-current="page">Health' in page.text


async def _until(srv: LiveServer, actor: Principal, project_id: str, status: ResourceStatus) -> str:
    for _ in range(200):
        items = (await srv.uc.resources.list(actor, project_id, PageRequest())).items
        if items and items[0].status is status:
            return items[0].id
        await asyncio.sleep(0.05)
    raise AssertionError(f"never {status}")


async def _events(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            yield json.loads(line.removeprefix("data: "))


async def test_a_status_change_reaches_the_open_live_stream(
    web: ConsoleClient, files_server: LiveServer, team: Accounts
) -> None:
    owner = await team.tenant_owner()
    actor, project_id = await _project(files_server, owner)
    resource = await files_server.uc.resources.create(actor, project_id, NewResource(type="object_bucket", name="b"))
    await _until(files_server, actor, project_id, ResourceStatus.RUNNING)
    await web.sign_in(owner.email, PASSWORD)
    page = await web.get(f"/console/projects/{project_id}")
    assert f'data-live="/console/live/projects/{project_id}"' in page.text
    assert f'id="resource-{resource.id}-status"' in page.text

    anonymous = await web.http.get(f"/console/live/projects/{project_id}")
    assert anonymous.status_code == 401  # no session, no stream (and EventSource does not retry)

    target = f"resource-{resource.id}-status"
    cookie = {"Cookie": f"{COOKIE}={web.session}"}
    async with web.http.stream("GET", f"/console/live/projects/{project_id}", headers=cookie) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-store"
        events = _events(stream)
        first = await asyncio.wait_for(anext(events), 10)
        assert first["id"] == target
        assert 'data-state="running"' in first["html"]
        await files_server.uc.resources.update(actor, resource.id, ResourceChanges(state=DesiredState.STOPPED))
        changed = await asyncio.wait_for(anext(events), 10)
        assert changed["id"] == target
        assert 'data-state="stopped"' in changed["html"]
        assert "stopped on request" in changed["html"]


async def _console_session(web: ConsoleClient, uc: UseCases, team: Accounts) -> tuple[ConsoleSession, Principal]:
    """A tenant owner signed in to the console: their session in the server's store, and who it acts as."""
    owner = await team.tenant_owner()
    await web.sign_in(owner.email, PASSWORD)
    session = await uc.console_sessions.find(web.session)
    assert session is not None
    return session, await uc.console_sessions.principal(session)


async def test_a_live_stream_ends_on_its_lifetime_a_drain_a_sign_out_and_a_404(
    web: ConsoleClient, files_server: LiveServer, team: Accounts
) -> None:
    """The stream's own loop, on the server's real session store, paced in tens of milliseconds."""
    uc = files_server.uc
    session, actor = await _console_session(web, uc, team)
    draining = False
    fast = LiveLimits(every=0.02, recheck=0.05, keepalive=0.1, lifetime=60.0)
    reads = 0

    async def snapshot(_: Principal) -> dict[str, str]:
        nonlocal reads
        reads += 1
        return {"x": f"<span id=x>{reads // 10}</span>"}

    async def collect(console: Console, read: Snapshot = snapshot) -> list[bytes]:
        return [frame async for frame in changes(console, session, actor, read, {"x": "<span id=x>0</span>"})]

    short = await asyncio.wait_for(collect(Console(uc, live=LiveLimits(every=0.02, keepalive=0.1, lifetime=0.5))), 5)
    assert short[0] == b"retry: 3000\n\n"
    assert frame("x", "<span id=x>0</span>") in short
    assert frame("x", "<span id=x>1</span>") in short  # a change is sent once, when it happens
    assert short.count(frame("x", "<span id=x>1</span>")) == 1

    drained = asyncio.create_task(collect(Console(uc, lambda: draining, fast)))
    await asyncio.sleep(0.2)
    assert not drained.done()
    draining = True
    await asyncio.wait_for(drained, 2)

    async def gone(_: Principal) -> dict[str, str]:
        raise NotFound("no such project", code="project_not_found")

    assert len(await asyncio.wait_for(collect(Console(uc, live=fast), gone), 2)) == 2  # retry, the first snapshot

    signed_out = asyncio.create_task(collect(Console(uc, live=fast)))
    await asyncio.sleep(0.2)
    assert not signed_out.done()
    await uc.console_sessions.end(session)
    await asyncio.wait_for(signed_out, 2)


async def test_the_live_streams_of_one_view_share_one_read_per_interval(
    web: ConsoleClient, files_server: LiveServer, team: Accounts
) -> None:
    """Three tabs on the same page (one key: the stream's URL and its viewer) read once per interval between
    them, not once each; a stream of another key reads for itself; nothing is kept once the streams end."""
    uc = files_server.uc
    session, actor = await _console_session(web, uc, team)
    console = Console(uc, live=LiveLimits(every=0.05, lifetime=0.6))
    reads: list[str] = []

    def reading(name: str) -> Snapshot:
        async def snapshot(_: Principal) -> dict[str, str]:
            reads.append(name)
            await asyncio.sleep(0.005)
            return {"x": "<span id=x>0</span>"}

        return snapshot

    async def stream(key: str) -> list[bytes]:
        return [f async for f in changes(console, session, actor, reading(key), {"x": ""}, key)]

    tabs = await asyncio.wait_for(asyncio.gather(*(stream("project") for _ in range(3)), stream("other")), 5)
    assert all(frame("x", "<span id=x>0</span>") in sent for sent in tabs)
    alone, shared = reads.count("other"), reads.count("project")
    assert alone >= 5, reads
    assert shared <= alone + 2, (shared, alone)  # three streams, one stream's reads
    assert len(console.reads) == 0


async def test_a_shared_read_outlives_the_stream_that_started_it() -> None:
    """A tab closed while the read it started runs does not cancel it for the others; an error reaches
    every stream that waits for it."""
    reads = SharedReads()
    gate = asyncio.Event()
    calls = 0

    async def slow() -> dict[str, str]:
        nonlocal calls
        calls += 1
        await gate.wait()
        return {"x": "1"}

    with reads.watching("k") as first, reads.watching("k") as second:
        started = asyncio.create_task(first(slow, 1.0))
        waiting = asyncio.create_task(second(slow, 1.0))
        await asyncio.sleep(0.01)
        started.cancel()
        gate.set()
        assert await waiting == {"x": "1"}
        assert calls == 1

        gate.clear()

        async def failing() -> dict[str, str]:
            nonlocal calls
            calls += 1
            await gate.wait()
            raise NotFound("no such project", code="project_not_found")

        both = [asyncio.create_task(reader(failing, 0.0)) for reader in (first, second)]
        await asyncio.sleep(0.01)
        gate.set()
        for waited in both:
            with pytest.raises(NotFound):
                await waited
        assert calls == 2  # the slow read, then one failing read for both
    assert len(reads) == 0


async def test_a_drain_ends_the_open_live_streams(tmp_path: Path) -> None:
    """The hosting server's drain (what its SIGTERM starts) reaches the console: an open stream ends at its next
    tick, and /ready answers 503, so the browser's next stream goes to another node."""
    readiness = Readiness()
    settings = support.test_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'drain.db'}")
    async with live_server(settings, readiness) as srv:
        assert await srv.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
        owner = await Accounts(srv.uc).tenant_owner()
        actor, project_id = await _project(srv, owner)
        await srv.uc.resources.create(actor, project_id, NewResource(type="object_bucket", name="b"))
        async with httpx.AsyncClient(base_url=srv.url, timeout=30.0) as http:
            web = ConsoleClient(http)
            await web.sign_in(owner.email, PASSWORD)
            cookie = {"Cookie": f"{COOKIE}={web.session}"}
            async with http.stream("GET", f"/console/live/projects/{project_id}", headers=cookie) as stream:
                assert stream.status_code == 200
                events = _events(stream)
                await asyncio.wait_for(anext(events), 10)
                readiness.drain()
                rest = [event async for event in _within(events, 5)]
            assert all(e["id"].startswith("resource-") for e in rest)
            assert (await http.get("/ready")).status_code == 503


async def _within(events: AsyncIterator[dict[str, str]], seconds: float) -> AsyncIterator[dict[str, str]]:
    """The events until the stream ends, which must be within ``seconds``."""
    async with asyncio.timeout(seconds):
        async for event in events:
            yield event
