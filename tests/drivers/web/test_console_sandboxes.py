"""The sandbox pages over a real socket, on the server's default runtime (processes under bubblewrap and
pasta, as /api/sandboxes' tests): an owner creates a sandbox from the form, sees it running with its clocks
and events, pauses, resumes and deletes it (no process left); an action its state forbids is the 409 naming
the state; the clocks form sets a new lifetime (within the plan); "open" mints a proxy token and sends the
browser to the proxy, which answers with the sandbox's own page; the list filters by state in the URL;
hostile form input is a 4xx page with the message, never a 5xx; a viewer sees no write controls and the
server refuses the writes anyway; another tenant's sandbox is a 404 page; CSRF is required."""

from __future__ import annotations

import re
import uuid

import httpx
import msgspec
import pytest

from tesserra_core.domain.identity import Role
from tesserra_core.domain.sandboxes import SandboxState
from tesserra_core.usecases.sandbox_views import NewSandbox
from tests.drivers.http.conftest import PASSWORD, Accounts
from tests.drivers.http.test_sandboxes import PORT, host_port, no_process_with, processes_with
from tests.drivers.web.conftest import ConsoleClient
from tests.support import LiveServer, eventually

_SANDBOX = re.compile(r"^/console/sandboxes/([^/?]+)$")
COMMAND = f"python3 -m http.server {PORT} --bind 0.0.0.0"


def _form(marker: str, **fields: str) -> dict[str, str]:
    return {
        "name": "web",
        "command": COMMAND,
        "ports": str(PORT),
        "env": f"SANDBOX_MARKER={marker}\n",
        "idle_timeout_seconds": "600",
        "on_idle": "pause",
        "ttl_seconds": "1800",
        "on_ttl": "stop",
        **fields,
    }


def _state(page: httpx.Response) -> str:
    found = re.search(r'<dd id="state">([^<]+)</dd>', page.text)
    assert found, page.text
    return found.group(1)


async def _create(console: ConsoleClient, marker: str, **fields: str) -> str:
    await console.get("/console/sandboxes/new")
    created = await console.post("/console/sandboxes", _form(marker, **fields))
    assert created.status_code == 303, created.text
    path = str(created.headers["location"])
    assert _SANDBOX.match(path), path
    return path


async def _act(console: ConsoleClient, path: str, action: str) -> httpx.Response:
    done = await console.post(f"{path}/actions/{action}")
    assert done.status_code == 303, done.text
    return await console.get(done.headers["location"])


async def a_sandbox(server: LiveServer, account_access: str, name: str) -> str:
    actor = await server.uc.authenticate(account_access)
    box = await server.uc.sandboxes.create(actor, NewSandbox(name=name, command=COMMAND.split(), ports=[PORT]))
    return box.id


async def test_create_pause_resume_open_and_delete_through_the_pages(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    owner = await accounts.tenant_owner()
    await console.sign_in(owner.email, PASSWORD)
    marker = uuid.uuid4().hex
    path = await _create(console, marker)
    sid = path.rsplit("/", 1)[1]
    page = await console.get(path)
    assert page.status_code == 200
    assert _state(page) == "running"
    assert marker not in page.text  # env values are never shown
    assert "SANDBOX_MARKER" in page.text
    for clock in ("expires-at", "idle-expires-at", "last-activity-at"):
        assert f'id="{clock}"' in page.text
    assert "<td>creating</td><td>running</td><td>request</td>" in page.text
    assert processes_with(marker) != []
    for action in ("pause", "stop", "restart", "keepalive"):
        assert f'id="action-{action}"' in page.text

    paused = await _act(console, path, "pause")
    assert _state(paused) == "paused"
    assert 'id="action-resume"' in paused.text
    assert 'id="action-pause"' not in paused.text
    assert "<td>running</td><td>pausing</td><td>request</td><td>pause</td>" in paused.text
    listed = await console.get("/console/sandboxes?state=paused")
    assert f'href="{path}"' in listed.text
    running = await console.get("/console/sandboxes?state=running")
    assert f'href="{path}"' not in running.text
    assert '<option value="running" selected>' in running.text
    resumed = await _act(console, path, "resume")
    assert _state(resumed) == "running"

    # open: a token minted for this browser, spent once on the proxy URL (it answers with its cookie)
    opened = await console.post(f"{path}/open")
    assert opened.status_code == 303, opened.text
    target = httpx.URL(opened.headers["location"])
    assert target.path == f"/api/runtime/proxy/{sid}/"
    assert target.params.get("tesserra_proxy_token")
    exchanged = await console.http.get(str(target))
    assert exchanged.status_code == 303
    assert "tesserra_proxy=" in exchanged.headers.get("set-cookie", "")
    cookie = exchanged.headers["set-cookie"].split(";", 1)[0]
    assert cookie.startswith("tesserra_proxy=")

    async def answered() -> httpx.Response | None:
        # 502 until the sandbox's http.server listens (it was paused and resumed meanwhile)
        answer = await console.http.get(exchanged.headers["location"], headers={"Cookie": cookie})
        return answer if answer.status_code != 502 else None

    served = await eventually(answered, within=10, every=0.1)
    assert served.status_code == 200, served.text
    assert "Directory listing" in served.text
    assert "sandbox" in served.headers["content-security-policy"]

    workload_port = await host_port(server.uc, sid)
    assert workload_port
    gone = await console.post(f"{path}/delete")
    assert gone.status_code == 303
    deleted = await console.get(gone.headers["location"])
    assert _state(deleted) == "deleted"
    assert 'id="actions"' not in deleted.text
    assert await no_process_with(marker)
    assert f'href="{path}"' not in (await console.get("/console/sandboxes")).text


async def test_an_action_the_state_forbids_is_the_409_naming_the_state(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    owner = await accounts.tenant_owner()
    sid = await a_sandbox(server, owner.access, "forbid")
    await console.sign_in(owner.email, PASSWORD)
    path = f"/console/sandboxes/{sid}"
    stopped = await _act(console, path, "stop")
    assert _state(stopped) == "stopped"
    refused = await console.post(f"{path}/actions/pause")
    assert refused.status_code == 409
    assert "cannot pause a sandbox that is stopped" in refused.text
    assert _state(refused) == "stopped"
    unknown = await console.post(f"{path}/actions/explode")
    assert unknown.status_code == 400
    assert "action must be one of" in unknown.text
    not_open = await console.post(f"{path}/open")  # stopped: the token is minted (the proxy answers 502 then)
    assert not_open.status_code == 303
    await console.post(f"{path}/delete")
    again = await console.post(f"{path}/delete")  # idempotent
    assert again.status_code == 303
    late = await console.post(f"{path}/open")
    assert late.status_code == 409
    assert "the sandbox is deleted" in late.text


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"ports": "80a"}, 400, "ports: whole numbers 1-65535"),
        ({"ports": "70000"}, 422, "ports: each port must be 1-65535"),
        ({"ports": "8000, 8000"}, 422, "each port may be declared once"),
        ({"ports": "1," * 150}, 400, "ports: at most 200 characters"),
        ({"ttl_seconds": "-5"}, 400, "ttl_seconds"),
        ({"ttl_seconds": "0"}, 400, "Expected `int` &gt;= 1"),
        ({"ttl_seconds": "1e9"}, 400, "ttl_seconds must be a whole number of seconds"),
        ({"ttl_seconds": "999999999"}, 400, "Expected `int` &lt;= 2592000"),
        ({"ttl_seconds": str(25 * 3600)}, 402, "passes the maximum of plan"),
        ({"idle_timeout_seconds": "-1"}, 400, "idle_timeout_seconds"),
        ({"on_ttl": "explode"}, 400, "on_ttl"),
        ({"env": "\n".join(f"V{i}=x" for i in range(65))}, 400, "Expected `array` of length &lt;= 64"),
        ({"env": "NOEQUALS"}, 400, "env: line 1 is not NAME=value"),
        ({"env": "1BAD=x"}, 400, "env"),
        ({"env": "BIG=" + "x" * 5000}, 400, "Expected `str` of length &lt;= 4096"),
        ({"env": "V=" + "x" * 70_000}, 413, ""),
        ({"command": "python3 'unclosed"}, 400, "command: No closing quotation"),
        ({"command": "", "image": ""}, 422, "a sandbox needs an image or a command"),
        ({"name": ""}, 400, "name"),
        ({"name": "<script>alert(1)</script>", "ports": "x"}, 400, "ports"),
        ({"name": "a\u0000b"}, 400, "name"),
        ({"command": "python3 -c \u0000"}, 400, "command"),
        ({"env": "A=\u0000"}, 400, "env"),
        ({"image": "evil\u0000:latest"}, 400, "image"),
    ],
)
async def test_hostile_form_input_is_a_4xx_page_with_the_message(
    console: ConsoleClient, accounts: Accounts, fields: dict[str, str], status: int, message: str
) -> None:
    owner = await accounts.tenant_owner()
    await console.sign_in(owner.email, PASSWORD)
    await console.get("/console/sandboxes/new")
    refused = await console.post("/console/sandboxes", _form("m", **fields))
    assert refused.status_code == status, refused.text
    assert message in refused.text
    assert "<script>alert" not in refused.text
    if status != 413:
        assert 'id="new-sandbox"' in refused.text  # the form again, with what was typed (env excepted)
        assert "x" * 5000 not in refused.text
    assert "No sandboxes yet." in (await console.get("/console/sandboxes")).text


async def test_a_viewer_sees_no_write_controls_and_the_server_refuses_them(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    owner = await accounts.tenant_owner()
    sid = await a_sandbox(server, owner.access, "viewed")
    viewer = await accounts.member(owner.tenant_id, Role.VIEWER)
    await console.sign_in(viewer.email, PASSWORD)
    listed = await console.get("/console/sandboxes")
    assert f'href="/console/sandboxes/{sid}"' in listed.text
    assert "/console/sandboxes/new" not in listed.text
    page = await console.get(f"/console/sandboxes/{sid}")
    assert _state(page) == "running"
    assert 'method="post" action="/console/sandboxes/' not in page.text
    assert "Your role cannot create sandboxes." in (await console.get("/console/sandboxes/new")).text
    for path, form in (
        ("/console/sandboxes", _form("v")),
        (f"/console/sandboxes/{sid}/actions/pause", {}),
        (f"/console/sandboxes/{sid}/clocks", {"ttl_seconds": "60"}),
        (f"/console/sandboxes/{sid}/delete", {}),
        (f"/console/sandboxes/{sid}/open", {}),
    ):
        refused = await console.post(path, form)
        assert refused.status_code == 403, path
        assert "Not allowed" in refused.text
    shown = await server.uc.sandboxes.get(await server.uc.authenticate(owner.access), sid)
    assert shown.state.value == "running"
    await server.uc.sandboxes.delete(await server.uc.authenticate(owner.access), sid)


async def test_another_tenants_sandbox_is_the_404_page_and_csrf_is_required(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    mine, theirs = await accounts.tenant_owner(), await accounts.tenant_owner()
    sid = await a_sandbox(server, theirs.access, "secret-name-" + uuid.uuid4().hex[:6])
    await console.sign_in(mine.email, PASSWORD)
    assert (await console.get("/console/sandboxes/a%00b")).status_code in (400, 404)  # NUL: never a 5xx
    for bad in ("state=deleted", "state=zombie", "page=0", "page=x"):
        refused = await console.get(f"/console/sandboxes?{bad}")
        assert refused.status_code == 400, bad
        assert "must be" in refused.text
    for path in (f"/console/sandboxes/{sid}", "/console/sandboxes/missing"):
        page = await console.get(path)
        assert page.status_code == 404
        assert "no such sandbox" in page.text
    assert "secret-name" not in (await console.get("/console/sandboxes")).text
    for action in ("actions/pause", "clocks", "delete", "open"):
        refused = await console.post(f"/console/sandboxes/{sid}/{action}")
        assert refused.status_code == 404, action
    theirs_actor = await server.uc.authenticate(theirs.access)
    assert (await server.uc.sandboxes.get(theirs_actor, sid)).state.value == "running"

    other = ConsoleClient(console.http)
    await other.sign_in(theirs.email, PASSWORD)
    path = f"/console/sandboxes/{sid}"
    for origin, csrf in ((None, ""), ("http://evil.example", ""), ("", None), ("", "forged")):
        refused = await other.post(f"{path}/actions/pause", origin=origin, csrf=csrf)
        assert refused.status_code == 403, (origin, csrf)
        assert "own pages" in refused.text or "has expired" in refused.text
    assert (await server.uc.sandboxes.get(theirs_actor, sid)).state.value == "running"
    await server.uc.sandboxes.delete(theirs_actor, sid)


async def test_the_clocks_form_sets_a_new_lifetime_and_refuses_bad_input(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    owner = await accounts.tenant_owner()
    sid = await a_sandbox(server, owner.access, "clocked")
    await console.sign_in(owner.email, PASSWORD)
    path = f"/console/sandboxes/{sid}"
    before = await console.get(path)
    assert 'id="clocks"' in before.text
    assert "no idle timeout" in before.text
    done = await console.post(
        f"{path}/clocks", {"ttl_seconds": "7200", "on_ttl": "delete", "idle_timeout_seconds": "300", "on_idle": "stop"}
    )
    assert done.status_code == 303, done.text
    after = await console.get(path)
    assert "(then delete; lifetime 7200 s)" in after.text
    assert "(then stop; after 300 s idle)" in after.text
    removed = await console.post(f"{path}/clocks", {"no_idle_timeout": "on"})
    assert removed.status_code == 303
    assert "no idle timeout" in (await console.get(path)).text
    for fields, status, message in (
        ({"ttl_seconds": "-1"}, 400, "Expected `int` &gt;= 1"),
        ({"ttl_seconds": "ten"}, 400, "ttl_seconds must be a whole number of seconds"),
        ({"ttl_seconds": str(25 * 3600)}, 402, "passes the maximum of plan"),
        ({"on_idle": "explode"}, 400, "on_idle"),
    ):
        refused = await console.post(f"{path}/clocks", fields)
        assert refused.status_code == status, (fields, refused.text)
        assert message in refused.text
    await console.post(f"{path}/delete")
    late = await console.post(f"{path}/clocks", {"ttl_seconds": "60"})
    assert late.status_code == 409
    assert "the sandbox is deleted" in late.text


async def test_a_sandbox_in_a_transient_state_is_polled_until_it_settles(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    """Another request (or the reaper, the reconciler) is acting on it: its page polls the state."""
    owner = await accounts.tenant_owner()
    sid = await a_sandbox(server, owner.access, "polled")
    await console.sign_in(owner.email, PASSWORD)
    path = f"/console/sandboxes/{sid}"
    settled = await console.get(path)
    assert f'hx-get="{path}/status"' not in settled.text
    uow_factory = server.uc.ports.uow
    async with uow_factory() as uow:
        running = await uow.sandboxes.find(sid)
        assert running is not None
        busy = msgspec.structs.replace(running, state=SandboxState.STOPPING)
        assert await uow.sandboxes.update(busy, if_updated_at=running.updated_at)
        await uow.commit()
    page = await console.get(path)
    assert f'hx-get="{path}/status" hx-trigger="every 2s"' in page.text
    polled = await console.get(f"{path}/status", headers={"HX-Request": "true"})
    assert polled.status_code == 200
    assert "stopping" in polled.text
    assert "HX-Refresh" not in polled.headers
    async with uow_factory() as uow:
        assert await uow.sandboxes.update(running)
        await uow.commit()
    done = await console.get(f"{path}/status", headers={"HX-Request": "true"})
    assert done.headers.get("HX-Refresh") == "true"
    assert done.text.strip() == "running"
    assert (await console.get("/console/sandboxes/missing/status")).status_code == 404
    await server.uc.sandboxes.delete(await server.uc.authenticate(owner.access), sid)


async def test_each_declared_port_opens_in_a_new_tab_with_its_own_token(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    """One form per declared port, posting to a new tab without an opener; the redirect names that port's
    proxy URL, sends no Referer on (one Referrer-Policy, the page's own: a browser reads the last one), and
    its token opens that port only. An undeclared or malformed port is the page with the refusal."""
    owner = await accounts.tenant_owner()
    actor = await server.uc.authenticate(owner.access)
    other_port = PORT + 1
    box = await server.uc.sandboxes.create(
        actor, NewSandbox(name="two-ports", command=COMMAND.split(), ports=[PORT, other_port])
    )
    await console.sign_in(owner.email, PASSWORD)
    path = f"/console/sandboxes/{box.id}"
    page = await console.get(path)
    assert page.headers.get_list("referrer-policy") == ["same-origin"]
    for port in (PORT, other_port):
        form = re.search(rf'<form [^>]*id="open-{port}"[^>]*>', page.text)
        assert form, page.text
        assert 'target="_blank"' in form.group(0)
        assert 'rel="noopener"' in form.group(0)
        assert f'name="port" value="{port}"' in page.text

    opened = await console.post(f"{path}/open", {"port": str(other_port)})
    assert opened.status_code == 303, opened.text
    assert opened.headers.get_list("referrer-policy") == ["no-referrer"]
    target = httpx.URL(opened.headers["location"])
    assert target.path == f"/api/runtime/proxy/{box.id}:{other_port}/"
    exchanged = await console.http.get(str(target))
    assert exchanged.status_code == 303  # the token is good for this port's URL: spent for its cookie
    assert "tesserra_proxy=" in exchanged.headers.get("set-cookie", "")
    token = target.params["tesserra_proxy_token"]
    first = await console.http.get(f"/api/runtime/proxy/{box.id}/?tesserra_proxy_token={token}")
    assert first.status_code in (401, 403), first.status_code  # and for that port only

    for typed, status, message in (("9", 422, "ports must be among the declared ports"), ("80a", 400, "port: a whole")):
        refused = await console.post(f"{path}/open", {"port": typed})
        assert refused.status_code == status, (typed, refused.text)
        assert message in refused.text
        assert 'role="alert"' in refused.text
    assert (await console.post(f"{path}/open", {"port": str(PORT)}, csrf=None)).status_code == 403

    stranger = ConsoleClient(console.http)
    await stranger.sign_in((await accounts.tenant_owner()).email, PASSWORD)
    await stranger.get("/console/sandboxes")
    assert (await stranger.post(f"{path}/open", {"port": str(PORT)})).status_code == 404
    await server.uc.sandboxes.delete(actor, box.id)
