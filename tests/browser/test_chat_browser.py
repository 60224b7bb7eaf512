"""Chat in a real browser, its agents answering from the suite's scripted OpenAI-compatible server: a person
starts a conversation, types a message, watches the answer's text appear piece by piece and presses Stop; a
hostile answer (a script tag, an image with an onerror) is shown as text, streamed and after a reload, with no
element made, no dialog and no CSP violation; a destructive tool call is approved from the page and the same
answer goes on. Every page visited is checked for CSP violations and off-host requests, and measured."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tesserra_adapters.memory.models import call, say
from tesserra_core.errors import NotFound
from tesserra_core.ports.models import TextDelta
from tesserra_core.usecases.projects import NewProject
from tests.browser.conftest import BUDGETS, MEASURED, Tab
from tests.drivers.http.conftest import PASSWORD, Accounts
from tests.servers.scripted_model import Forever, ScriptedModelServer
from tests.support import LiveServer

HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)"> <b>not bold</b>'
ANSWER = "#messages article.message-assistant"


async def _conversation(tab: Tab) -> str:
    """Start a conversation with the operations assistant from the chat page; its path."""
    page = tab.page
    await tab.visit("/console/chat", "chat")
    await page.select_option("#chat-agent", "ops-assistant")
    async with page.expect_navigation():
        await page.click("#new-chat button[type=submit]")
    path = str(page.url).removeprefix(tab.origin)
    assert path.startswith("/console/chat/"), path
    await tab.visit(path, "conversation")
    return path


async def _send(tab: Tab, text: str) -> None:
    await tab.page.fill("#composer-content", text)
    await tab.page.click("#composer button[type=submit]")


def _within_budgets(since: int) -> None:
    for name, measured in MEASURED[since:]:
        for budget in ("html", "js", "css", "requests"):
            assert measured[budget] <= BUDGETS[budget], (name, budget, measured)


async def test_type_watch_the_answer_stream_in_and_stop_it(
    tab: Tab, people: Accounts, model: ScriptedModelServer
) -> None:
    owner = await people.tenant_owner()
    await tab.sign_in(owner.email, PASSWORD)
    page = tab.page
    before = len(MEASURED)
    await tab.visit("/console/agents", "agents")
    path = await _conversation(tab)
    model.script([TextDelta("Olá! "), Forever("blá ", every=0.1)])

    await _send(tab, "Fala comigo")

    answer = page.locator(ANSWER).last
    text = answer.locator(".text")
    await page.wait_for_function(
        "() => { const t = document.querySelector('#messages article.message-assistant .text');"
        " return t && t.textContent.startsWith('Olá! blá blá'); }"
    )
    seen = await text.text_content() or ""
    await asyncio.sleep(0.3)
    assert len(await text.text_content() or "") > len(seen)  # still growing: streamed, not loaded at the end
    assert await page.locator("#messages article.message-user .text").last.text_content() == "Fala comigo"
    assert await page.input_value("#composer-content") == ""

    await answer.locator("form.stop button").click()

    await page.wait_for_selector(f"{ANSWER}[data-status='cancelled']")
    assert await answer.locator("form.stop").count() == 0
    stopped = await text.text_content() or ""
    assert stopped.startswith("Olá! blá ")
    await asyncio.sleep(0.3)
    assert await text.text_content() == stopped  # nothing more arrives
    assert await tab.csp_violations() == []
    await tab.visit(path, "conversation (stopped)")
    kept = page.locator(ANSWER).last
    assert await kept.get_attribute("data-status") == "cancelled"
    assert await kept.locator(".text").text_content() == stopped
    assert "the answer was cancelled" in (await kept.text_content() or "")
    _within_budgets(before)


async def test_a_hostile_answer_is_text_with_no_element_no_dialog_and_no_csp_violation(
    tab: Tab, people: Accounts, model: ScriptedModelServer
) -> None:
    owner = await people.tenant_owner()
    await tab.sign_in(owner.email, PASSWORD)
    page = tab.page
    dialogs: list[str] = []

    async def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", dismiss)
    path = await _conversation(tab)
    model.script(say(HOSTILE, pieces=7))

    await _send(tab, HOSTILE)

    await page.wait_for_selector(f"{ANSWER}[data-status='complete']")

    async def shown_as_text() -> None:
        assert await page.locator(ANSWER).last.locator(".text").text_content() == HOSTILE
        assert await page.locator("#messages article.message-user .text").last.text_content() == HOSTILE
        assert await page.locator("#messages img, #messages b, #messages script").count() == 0
        assert await tab.csp_violations() == []

    await shown_as_text()  # as streamed
    await tab.visit(path, "conversation (hostile answer)")
    await shown_as_text()  # as stored and served again
    await asyncio.sleep(0.2)
    assert dialogs == []


async def test_a_destructive_call_is_approved_from_the_page(
    tab: Tab, people: Accounts, model: ScriptedModelServer, site: LiveServer
) -> None:
    owner = await people.tenant_owner()
    actor = await site.uc.authenticate(owner.access)
    project = await site.uc.projects.create(actor, NewProject(name="descartavel"))
    await tab.sign_in(owner.email, PASSWORD)
    page = tab.page
    await _conversation(tab)
    model.script(call("delete_project", {"project_id": project.id}, call_id="call_del"), say("Apagado."))

    await _send(tab, "Apaga o projeto")

    approve = page.locator(f"{ANSWER} .approval button[value=approve]")
    await approve.wait_for()
    assert await page.locator(f"{ANSWER} .approval code").text_content() == "delete_project"
    assert await page.locator(ANSWER).last.get_attribute("data-status") == "pending_approval"
    await approve.click()
    await page.wait_for_selector(f"{ANSWER}[data-status='complete']")
    assert await page.locator(f"{ANSWER} .text").last.text_content() == "Apagado."
    assert await page.locator(f"{ANSWER} .approval").count() == 0
    assert "ok" in (await page.locator(f"{ANSWER} .calls li").last.text_content() or "")
    with pytest.raises(NotFound):
        await site.uc.projects.get(actor, project.id)
    assert await tab.csp_violations() == []
