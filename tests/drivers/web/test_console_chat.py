"""The agents and chat pages over a real socket (SQLite and PostgreSQL), answered by the suite's scripted
OpenAI-compatible server (as the REST chat tests are): a message's answer streams its events piece by piece
(the model held mid-answer while the first piece is read), Stop cancels it as REST's cancel does, model output
with HTML in it is escaped in the stored history, a destructive tool call is approved or denied from the page,
another user's or tenant's conversation and private agent are 404 pages, private agents are for owners and
admins only (a member or viewer sees no form and the server refuses it anyway), and every write needs the CSRF
token and this origin."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from tesserra_adapters.memory.models import call, say
from tesserra_core.domain.identity import Role
from tesserra_core.errors import NotFound
from tesserra_core.ports.models import Finish, TextDelta
from tesserra_core.usecases.conversations import NewMessage
from tesserra_core.usecases.projects import NewProject
from tests import support
from tests.drivers.http.chat.test_chat_streams import parse
from tests.drivers.http.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    BACKENDS,
    PASSWORD,
    Account,
    Accounts,
    fresh_address,
)
from tests.drivers.web.conftest import COOKIE, ConsoleClient
from tests.servers.scripted_model import Forever, ScriptedModelServer, scripted_model
from tests.support import LiveServer, database_url, eventually, live_server

OPS = "ops-assistant"
_CONVERSATION = re.compile(r"^/console/chat/([^/?]+)$")
HOSTILE = '<script>alert(1)</script> and <img src=x onerror="alert(2)">'


@pytest.fixture(scope="module")
async def model() -> AsyncIterator[ScriptedModelServer]:
    async with scripted_model() as server:
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
async def chat_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, model: ScriptedModelServer
) -> AsyncIterator[LiveServer]:
    tmp = tmp_path_factory.mktemp(f"console-chat-{request.param}")
    async with database_url(request.param, tmp) as url:
        settings = support.test_settings(tmp, url, model_base_url=model.url, model="tiny-chat", rate_limit_scale=100.0)
        async with live_server(settings) as srv:
            assert await srv.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
            yield srv


@pytest.fixture(scope="module")
def people(chat_server: LiveServer) -> Accounts:
    return Accounts(chat_server.uc)


@pytest.fixture(autouse=True)
def unscripted(model: ScriptedModelServer) -> Iterator[None]:
    model.script()
    yield
    model.script()


@pytest.fixture
async def browsers(chat_server: LiveServer) -> AsyncIterator[Callable[[], ConsoleClient]]:
    """``browsers()`` is another person's browser (its own cookie and source address)."""
    opened: list[httpx.AsyncClient] = []

    def make() -> ConsoleClient:
        transport = httpx.AsyncHTTPTransport(local_address=fresh_address())
        http = httpx.AsyncClient(base_url=chat_server.url, transport=transport, timeout=30.0)
        opened.append(http)
        return ConsoleClient(http)

    yield make
    for http in opened:
        await http.aclose()


async def _signed_in(browsers: Callable[[], ConsoleClient], account: Account) -> ConsoleClient:
    web = browsers()
    await web.sign_in(account.email, PASSWORD)
    return web


async def _start(web: ConsoleClient, agent: str = OPS) -> str:
    await web.get("/console/agents")
    started = await web.post("/console/chat", {"agent_id": agent})
    assert started.status_code == 303, started.text
    found = _CONVERSATION.match(str(started.headers["location"]))
    assert found, started.headers["location"]
    return found.group(1)


class Streamed:
    """A message posted as chat.js posts it (``Accept: text/event-stream``, the token in a header), its answer
    read in the background as it comes."""

    def __init__(self, web: ConsoleClient, conversation: str, content: str) -> None:
        self.raw = b""
        self.status = 0
        self.content_type = ""
        self.task = asyncio.create_task(self._read(web, conversation, content))

    async def _read(self, web: ConsoleClient, conversation: str, content: str) -> None:
        headers = {
            "Cookie": f"{COOKIE}={web.session}",
            "Origin": web.origin,
            "Accept": "text/event-stream",
            "X-CSRF-Token": web.csrf,
        }
        url = f"/console/chat/{conversation}/messages"
        async with web.http.stream("POST", url, data={"content": content}, headers=headers) as response:
            self.status, self.content_type = response.status_code, response.headers["content-type"]
            async for chunk in response.aiter_raw():
                self.raw += chunk

    def events(self) -> list[tuple[int, str, Any]]:
        return parse(self.raw.rpartition(b"\n\n")[0] + b"\n\n") if b"\n\n" in self.raw else []

    async def until(self, name: str) -> dict[str, Any]:
        async def seen() -> dict[str, Any] | None:
            await asyncio.sleep(0)
            if self.task.done():
                self.task.result()
            return next((data for _, event, data in self.events() if event == name), None)

        return await eventually(seen, within=30)

    async def end(self) -> list[tuple[int, str, Any]]:
        await asyncio.wait_for(self.task, 30)
        return parse(self.raw)


def _article(page: str, message_id: str) -> str:
    start = page.index(f'id="message-{message_id}"')
    return page[start : page.index("</article>", start)]


async def test_a_message_streams_its_answer_piece_by_piece_and_the_page_keeps_it(
    browsers: Callable[[], ConsoleClient], people: Accounts, model: ScriptedModelServer
) -> None:
    owner = await people.tenant_owner()
    web = await _signed_in(browsers, owner)
    agents = await web.get("/console/agents")
    assert agents.status_code == 200
    assert 'name="agent_id" value="ops-assistant"' in agents.text
    conversation = await _start(web)
    page = await web.get(f"/console/chat/{conversation}")
    assert page.status_code == 200
    assert 'id="composer"' in page.text
    assert re.search(r'<script src="/console/static/chat\.js" nonce="[^"]+" defer>', page.text)
    assert "No messages yet" in page.text
    script = await web.get("/console/static/chat.js")
    assert script.status_code == 200
    assert "innerHTML" not in script.text  # model output goes in with textContent only

    held = asyncio.Event()
    model.script([TextDelta("Olá, "), held, TextDelta("tudo "), TextDelta("bem?"), Finish("stop")])
    streamed = Streamed(web, conversation, "Oi")
    first = await streamed.until("text_delta")

    assert first == {"text": "Olá, "}  # the first piece arrives while the model still holds the rest
    assert streamed.status == 201
    assert streamed.content_type.startswith("text/event-stream")
    assert "done" not in [e[1] for e in streamed.events()]
    held.set()
    events = await streamed.end()
    names = [e[1] for e in events]
    assert names[0] == "message_start"
    assert names.count("text_delta") == 3
    assert names[-1] == "done"
    assert "".join(d["text"] for _, n, d in events if n == "text_delta") == "Olá, tudo bem?"
    answer = events[0][2]["message_id"]
    assert (events[-1][2]["status"], events[-1][2]["content"]) == ("complete", "Olá, tudo bem?")
    assert model.requests[0]["messages"][-1] == {"role": "user", "content": "Oi"}

    stored = await web.get(f"/console/chat/{conversation}")
    article = _article(stored.text, answer)
    assert '<div class="text">Olá, tudo bem?</div>' in article
    assert "data-follow" not in article  # over: nothing to follow, no Stop
    assert "/cancel" not in article
    replay = await web.get(f"/console/chat/{conversation}/messages/{answer}/events")
    assert replay.headers["content-type"].startswith("text/event-stream")
    assert replay.content == streamed.raw  # the same events, stored as sent
    listed = await web.get("/console/chat")
    assert f'href="/console/chat/{conversation}"' in listed.text


async def test_a_plain_form_post_waits_for_the_whole_answer_and_comes_back_to_the_page(
    browsers: Callable[[], ConsoleClient], people: Accounts, model: ScriptedModelServer
) -> None:
    owner = await people.tenant_owner()
    web = await _signed_in(browsers, owner)
    conversation = await _start(web)
    await web.get(f"/console/chat/{conversation}")
    model.script(say("Tudo certo.", pieces=2))
    sent = await web.post(f"/console/chat/{conversation}/messages", {"content": "Como vai?"})
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"] == f"/console/chat/{conversation}"
    page = await web.get(sent.headers["location"])
    assert '<div class="text">Como vai?</div>' in page.text
    assert '<div class="text">Tudo certo.</div>' in page.text
    for blank in ("", "   "):
        refused = await web.post(f"/console/chat/{conversation}/messages", {"content": blank})
        assert refused.status_code == 400, blank
        assert 'id="composer"' in refused.text  # shown on the conversation's page


async def test_stop_cancels_the_answer_as_the_use_case_records_it(
    browsers: Callable[[], ConsoleClient], people: Accounts, model: ScriptedModelServer
) -> None:
    owner = await people.tenant_owner()
    web = await _signed_in(browsers, owner)
    conversation = await _start(web)
    await web.get(f"/console/chat/{conversation}")
    model.script([Forever("blá ")])
    streamed = Streamed(web, conversation, "Fala sem parar")
    await streamed.until("text_delta")
    answer = streamed.events()[0][2]["message_id"]
    live = await web.get(f"/console/chat/{conversation}")
    article = _article(live.text, answer)
    assert f'data-follow="/console/chat/{conversation}/messages/{answer}/events"' in article
    assert f'action="/console/chat/{conversation}/messages/{answer}/cancel"' in article

    stopped = await web.post(f"/console/chat/{conversation}/messages/{answer}/cancel")

    assert stopped.status_code == 303, stopped.text
    events = await streamed.end()
    assert [e[1] for e in events[-2:]] == ["error", "done"]
    assert events[-2][2]["code"] == "cancelled"
    assert events[-1][2]["status"] == "cancelled"
    partial = "".join(d["text"] for _, n, d in events if n == "text_delta")
    assert partial.startswith("blá ")
    await eventually(lambda: asyncio.sleep(0, model.closed or None), within=5)  # the provider's stream closed
    page = await web.get(f"/console/chat/{conversation}")
    article = _article(page.text, answer)
    assert 'data-status="cancelled"' in article
    assert "the answer was cancelled" in article
    assert f'<div class="text">{partial}</div>' in article
    assert "/cancel" not in article
    again = await web.post(f"/console/chat/{conversation}/messages/{answer}/cancel")
    assert again.status_code == 303  # an ended answer stays as it is


async def test_model_output_with_html_is_escaped_in_the_stored_history(
    browsers: Callable[[], ConsoleClient], people: Accounts, model: ScriptedModelServer
) -> None:
    owner = await people.tenant_owner()
    web = await _signed_in(browsers, owner)
    conversation = await _start(web)
    await web.get(f"/console/chat/{conversation}")
    model.script(say(HOSTILE, pieces=4))
    streamed = Streamed(web, conversation, HOSTILE)
    events = await streamed.end()
    assert events[-1][2]["content"] == HOSTILE

    page = await web.get(f"/console/chat/{conversation}")

    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; and &lt;img src=x onerror=&#34;alert(2)&#34;&gt;"
    assert page.text.count(f'<div class="text">{escaped}</div>') == 2  # the user's message and the answer
    assert "<script>alert" not in page.text
    assert "<img" not in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'; script-src 'nonce-")


async def _project(server: LiveServer, account: Account, name: str) -> str:
    actor = await server.uc.authenticate(account.access)
    return (await server.uc.projects.create(actor, NewProject(name=name))).id


async def _waiting(
    web: ConsoleClient, model: ScriptedModelServer, project: str, then: str
) -> tuple[str, Streamed, dict[str, Any]]:
    conversation = await _start(web)
    await web.get(f"/console/chat/{conversation}")
    model.script(call("delete_project", {"project_id": project}, call_id="call_del"), say(then))
    streamed = Streamed(web, conversation, "Apaga o projeto")
    return conversation, streamed, await streamed.until("approval_required")


async def test_approving_from_the_page_runs_the_tool_and_the_answer_goes_on(
    browsers: Callable[[], ConsoleClient], people: Accounts, model: ScriptedModelServer, chat_server: LiveServer
) -> None:
    owner = await people.tenant_owner()
    web = await _signed_in(browsers, owner)
    project = await _project(chat_server, owner, "descartavel")
    conversation, streamed, approval = await _waiting(web, model, project, "Apagado.")
    answer = streamed.events()[0][2]["message_id"]
    decide = f"/console/chat/{conversation}/messages/{answer}/approvals/{approval['approval_id']}"

    page = await web.get(f"/console/chat/{conversation}")
    article = _article(page.text, answer)
    assert 'data-status="pending_approval"' in article
    assert f'action="{decide}"' in article
    assert 'value="approve">Approve</button>' in article
    assert 'value="deny" class="danger">Deny</button>' in article
    assert "<code>delete_project</code>" in article
    refused = await web.post(decide, {"decision": "maybe"})
    assert refused.status_code == 400
    assert "choose approve or deny" in refused.text

    approved = await web.post(decide, {"decision": "approve"})

    assert approved.status_code == 303, approved.text
    events = await streamed.end()
    result = next(d for _, n, d in events if n == "tool_result")
    assert (result["id"], result["outcome"]) == ("call_del", "ok")
    assert (events[-1][2]["status"], events[-1][2]["content"]) == ("complete", "Apagado.")
    with pytest.raises(NotFound):
        await chat_server.uc.projects.get(await chat_server.uc.authenticate(owner.access), project)
    late = await web.post(decide, {"decision": "deny"})
    assert late.status_code == 409
    assert "approved already" in late.text
    done = _article((await web.get(f"/console/chat/{conversation}")).text, answer)
    assert "<code>delete_project</code>: ok" in done
    assert "/approvals/" not in done


async def test_denying_from_the_page_tells_the_model_and_the_tool_never_runs(
    browsers: Callable[[], ConsoleClient], people: Accounts, model: ScriptedModelServer, chat_server: LiveServer
) -> None:
    owner = await people.tenant_owner()
    web = await _signed_in(browsers, owner)
    project = await _project(chat_server, owner, "fica")
    conversation, streamed, approval = await _waiting(web, model, project, "Tudo bem, não apago.")
    answer = streamed.events()[0][2]["message_id"]
    decide = f"/console/chat/{conversation}/messages/{answer}/approvals/{approval['approval_id']}"

    denied = await web.post(decide, {"decision": "deny"})

    assert denied.status_code == 303, denied.text
    events = await streamed.end()
    result = next(d for _, n, d in events if n == "tool_result")
    assert result["outcome"] == "denied"
    assert json.loads(result["result"])["error"]["code"] == "denied_by_user"
    assert events[-1][2]["status"] == "complete"
    still = await chat_server.uc.projects.get(await chat_server.uc.authenticate(owner.access), project)
    assert still.id == project


async def test_another_users_or_tenants_conversation_is_a_404_page(
    browsers: Callable[[], ConsoleClient], people: Accounts, model: ScriptedModelServer, chat_server: LiveServer
) -> None:
    owner = await people.tenant_owner()
    web = await _signed_in(browsers, owner)
    project = await _project(chat_server, owner, "alvo")
    conversation, streamed, approval = await _waiting(web, model, project, "Feito.")
    answer = streamed.events()[0][2]["message_id"]
    base = f"/console/chat/{conversation}"
    decide = f"{base}/messages/{answer}/approvals/{approval['approval_id']}"
    colleague = await _signed_in(browsers, await people.member(owner.tenant_id, Role.ADMIN))
    stranger = await _signed_in(browsers, await people.tenant_owner("Outra"))

    for other in (colleague, stranger):
        await other.get("/console/chat")
        for path in (base, f"{base}/messages/{answer}/events"):
            page = await other.get(path)
            assert page.status_code == 404, path
            assert "Not found" in page.text
            assert "Apaga o projeto" not in page.text
        for path, form in (
            (f"{base}/messages", {"content": "oi"}),
            (f"{base}/messages/{answer}/cancel", {}),
            (decide, {"decision": "approve"}),
            (f"{base}/archive", {"archived": "1"}),
            (f"{base}/delete", {}),
        ):
            refused = await other.post(path, form)
            assert refused.status_code == 404, path
            assert "Not found" in refused.text
        listed = await other.get("/console/chat")
        assert conversation not in listed.text
    assert (await chat_server.uc.projects.get(await chat_server.uc.authenticate(owner.access), project)).id == project
    assert (await web.post(decide, {"decision": "deny"})).status_code == 303
    assert (await streamed.end())[-1][2]["status"] == "complete"
    assert (await web.get(base)).status_code == 200


async def test_private_agents_for_owners_and_admins_only_and_404_to_other_tenants(
    browsers: Callable[[], ConsoleClient], people: Accounts, model: ScriptedModelServer
) -> None:
    owner = await people.tenant_owner()
    web = await _signed_in(browsers, owner)
    listed = await web.get("/console/agents")
    assert 'id="new-agent"' in listed.text
    form = {
        "name": "Vendas <b>internas</b>",
        "vertical": "support",
        "description": "Ajuda a equipe",
        "instructions": "Responda em português.",
        "tools": "list_projects, get_project",
    }
    bad = await web.post("/console/agents", {**form, "tools": "rm_rf"})
    assert bad.status_code == 422
    assert "unknown tools: rm_rf" in bad.text
    assert 'value="Vendas &lt;b&gt;internas&lt;/b&gt;"' in bad.text  # what was typed, kept and escaped
    created = await web.post("/console/agents", form)
    assert created.status_code == 303, created.text
    path = str(created.headers["location"])
    agent = path.rsplit("/", 1)[1]
    edit = await web.get(path)
    assert edit.status_code == 200
    assert "Responda em português." in edit.text
    saved = await web.post(path, {**form, "instructions": "Responda curto."})
    assert saved.status_code == 303
    assert "version 2" in (await web.get(path)).text
    listed = await web.get("/console/agents")
    assert f'href="/console/agents/{agent}"' in listed.text
    assert "Vendas &lt;b&gt;internas&lt;/b&gt;" in listed.text
    assert (await web.get("/console/agents?vertical=operations")).text.count(f"agent-{agent}") == 0
    assert (await web.get(f"/console/agents/{OPS}")).status_code == 404  # a platform agent is not the tenant's

    for role in (Role.MEMBER, Role.VIEWER):
        other = await _signed_in(browsers, await people.member(owner.tenant_id, role))
        seen = await other.get("/console/agents")
        assert seen.status_code == 200
        assert f'agent-{agent}"' in seen.text  # the tenant's members see it and may chat with it
        assert 'id="new-agent"' not in seen.text
        assert f'href="/console/agents/{agent}"' not in seen.text
        assert (await other.post("/console/agents", form)).status_code == 403, role
        assert (await other.post(path, form)).status_code == 403, role
        assert (await other.post(f"{path}/delete")).status_code == 403, role
        assert (await other.get(path)).status_code == 403, role
        started = await _start(other, agent)
        assert (await other.get(f"/console/chat/{started}")).status_code == 200

    stranger = await _signed_in(browsers, await people.tenant_owner("Outra"))
    assert agent not in (await stranger.get("/console/agents")).text
    for path_, data in ((path, form), (f"{path}/delete", {})):
        assert (await stranger.post(path_, data)).status_code == 404
    assert (await stranger.get(path)).status_code == 404
    assert (await stranger.post("/console/chat", {"agent_id": agent})).status_code == 404

    deleted = await web.post(f"{path}/delete")
    assert deleted.status_code == 303
    assert (await web.get(path)).status_code == 404
    assert agent not in (await web.get("/console/agents")).text


async def test_a_viewer_chats_as_the_use_cases_allow(
    browsers: Callable[[], ConsoleClient], people: Accounts, model: ScriptedModelServer
) -> None:
    owner = await people.tenant_owner()
    viewer = await _signed_in(browsers, await people.member(owner.tenant_id, Role.VIEWER))
    chats = await viewer.get("/console/chat")
    assert 'id="new-chat"' in chats.text  # chat:write is a viewer's too
    conversation = await _start(viewer)
    await viewer.get(f"/console/chat/{conversation}")
    model.script(say("Oi, leitor."))
    assert (await viewer.post(f"/console/chat/{conversation}/messages", {"content": "Oi"})).status_code == 303
    assert "Oi, leitor." in (await viewer.get(f"/console/chat/{conversation}")).text
    archived = await viewer.post(f"/console/chat/{conversation}/archive", {"archived": "1"})
    assert archived.status_code == 303
    page = await viewer.get(f"/console/chat/{conversation}")
    assert 'id="composer"' not in page.text  # an archived conversation takes no new messages
    refused = await viewer.post(f"/console/chat/{conversation}/messages", {"content": "mais"})
    assert refused.status_code == 409
    assert "archived" in refused.text
    assert conversation in (await viewer.get("/console/chat?status=archived")).text
    assert conversation not in (await viewer.get("/console/chat?status=active")).text
    assert (await viewer.get("/console/chat?status=nope")).status_code == 400
    assert (await viewer.post(f"/console/chat/{conversation}/delete")).status_code == 303
    assert (await viewer.get(f"/console/chat/{conversation}")).status_code == 404


async def test_chat_writes_need_the_csrf_token_and_this_origin(
    browsers: Callable[[], ConsoleClient], people: Accounts, model: ScriptedModelServer, chat_server: LiveServer
) -> None:
    owner = await people.tenant_owner()
    web = await _signed_in(browsers, owner)
    project = await _project(chat_server, owner, "protegido")
    conversation, streamed, approval = await _waiting(web, model, project, "Ok.")
    answer = streamed.events()[0][2]["message_id"]
    base = f"/console/chat/{conversation}"
    writes = [
        ("/console/chat", {"agent_id": OPS}),
        ("/console/agents", {"name": "x", "vertical": "support", "instructions": "y"}),
        (f"{base}/messages", {"content": "oi"}),
        (f"{base}/messages/{answer}/cancel", {}),
        (f"{base}/messages/{answer}/approvals/{approval['approval_id']}", {"decision": "approve"}),
        (f"{base}/archive", {"archived": "1"}),
        (f"{base}/delete", {}),
    ]
    for path, form in writes:
        assert (await web.post(path, form, csrf=None)).status_code == 403, path
        assert (await web.post(path, form, csrf="forged")).status_code == 403, path
        assert (await web.post(path, form, origin="https://evil.example")).status_code == 403, path
        assert (await web.post(path, form, origin=None)).status_code == 403, path
    streamed_without = await web.http.post(
        f"{base}/messages",
        data={"content": "oi"},
        headers={"Cookie": f"{COOKIE}={web.session}", "Origin": web.origin, "Accept": "text/event-stream"},
    )
    assert streamed_without.status_code == 403
    page = await web.get(base)
    assert 'data-status="pending_approval"' in page.text  # nothing was decided, cancelled or sent
    assert page.text.count('class="message message-user"') == 1
    assert (await chat_server.uc.projects.get(await chat_server.uc.authenticate(owner.access), project)).id == project
    assert (await web.post(f"{base}/messages/{answer}/cancel")).status_code == 303
    assert (await streamed.end())[-1][2]["status"] == "cancelled"


async def test_hostile_input_is_a_4xx_page_never_a_500(
    browsers: Callable[[], ConsoleClient], people: Accounts, model: ScriptedModelServer
) -> None:
    owner = await people.tenant_owner()
    web = await _signed_in(browsers, owner)
    conversation = await _start(web)
    model.script(say("Oi."))
    streamed = Streamed(web, conversation, "Oi")
    answer = (await streamed.end())[0][2]["message_id"]
    base = f"/console/chat/{conversation}"
    await web.get(base)
    for value in ("abc", "-1", "9" * 40):
        events = await web.get(f"{base}/messages/{answer}/events", headers={"Last-Event-ID": value})
        assert events.status_code == 400, value
        assert "Last-Event-ID" in events.text
    for path in (f"{base}?page=0", "/console/chat?page=x", "/console/agents?vertical=" + "v" * 65):
        assert (await web.get(path)).status_code == 400, path
    for path, form in (
        ("/console/chat", {"agent_id": ""}),
        ("/console/chat", {"agent_id": "a" * 65}),
        ("/console/chat", {"agent_id": OPS, "title": "t" * 201}),
        ("/console/chat", {"agent_id": OPS, "title": "bad\x00title"}),
        (f"{base}/messages", {"content": "x" * 32_001}),
        (f"{base}/messages", {"content": "nul\x00byte"}),
        (f"{base}/messages/{answer}/approvals/nope", {"decision": ""}),
        ("/console/agents", {"name": "no vertical", "instructions": "x"}),
        ("/console/agents", {"name": "", "vertical": "support", "instructions": "x"}),
        ("/console/agents", {"name": "n", "vertical": "nowhere", "instructions": "x"}),
    ):
        refused = await web.post(path, form)
        assert 400 <= refused.status_code < 500, (path, form, refused.status_code)
        assert "<html" in refused.text
    assert (await web.post(f"{base}/messages/nope/cancel")).status_code == 404
    assert (await web.post(f"{base}/messages/{answer}/approvals/nope", {"decision": "approve"})).status_code == 404
    assert (await web.post("/console/chat", {"agent_id": "no-such-agent"})).status_code == 404
    assert (await web.get("/console/chat/no-such-conversation")).status_code == 404


async def test_a_long_conversation_opens_on_its_newest_page(
    browsers: Callable[[], ConsoleClient], people: Accounts, model: ScriptedModelServer, chat_server: LiveServer
) -> None:
    owner = await people.tenant_owner()
    actor = await chat_server.uc.authenticate(owner.access)
    web = await _signed_in(browsers, owner)
    conversation = await _start(web)
    model.script(then=say("ok"))
    for n in range(26):  # 52 messages: two pages of 50
        await chat_server.uc.conversations.send(actor, conversation, NewMessage(content=f"message {n:02d}"))

    newest = await web.get(f"/console/chat/{conversation}")

    assert "Page 2 of 2 (52 in all)" in newest.text
    assert "message 25" in newest.text
    assert "message 00" not in newest.text
    assert f'href="/console/chat/{conversation}?page=1"' in newest.text
    oldest = await web.get(f"/console/chat/{conversation}?page=1")
    assert "message 00" in oldest.text
    assert "message 25" not in oldest.text
