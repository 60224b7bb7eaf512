"""Chat budgets over real sockets (SQLite and PostgreSQL): 20 parallel posts against a tenant budget with
room for 5 answers make exactly 5 model calls and 15 refusals (402, before any model call); a user's daily
budget answers 429 with Retry-After; an answer streaming past its reservation is stopped with an error
event; what an answer did not spend goes back to the budgets."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tesserra_core.domain.agents import agent_catalog
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.plans import PlanLimits
from tesserra_core.ports.models import Finish, TextDelta
from tesserra_core.usecases.billing_plans import NewPlan, PlanChanges
from tesserra_core.usecases.chat_budgets import tenant_budget, user_budget
from tests.drivers.http.chat.conftest import OPS
from tests.drivers.http.chat.test_chat_streams import SSE, parse
from tests.drivers.http.conftest import Account, Accounts, assert_error
from tests.servers.scripted_model import Forever, ScriptedModelServer
from tests.support import LiveServer, eventually

PER_ANSWER = agent_catalog().agent(OPS).limits
ROOM = 5


@pytest.fixture(scope="module")
async def accounts(server: LiveServer) -> Accounts:
    accounts = Accounts(server.uc)
    await server.uc.plans.create(await accounts.admin_principal(), NewPlan(code="free", name="Free"))
    return accounts


async def _free_plan_allows(server: LiveServer, accounts: Accounts, **limits: int | None) -> None:
    """The free plan's chat limits from now on (for tenants whose entitlement is not cached yet)."""
    admin = await accounts.admin_principal()
    [free] = [p for p in (await server.uc.plans.admin_list(admin, PageRequest())).items if p.code == "free"]
    await server.uc.plans.update(admin, free.id, PlanChanges(limits=PlanLimits(**limits)))


async def _start(client: httpx.AsyncClient, account: Account) -> str:
    response = await client.post("/api/conversas", json={"agent_id": OPS}, headers=account.bearer)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _spent(server: LiveServer, budget: str, period: str) -> tuple[int, int]:
    async with server.uc.ports.uow(read_only=True) as uow:
        return await uow.chat_budgets.spent(budget, period)


async def test_twenty_parallel_posts_cannot_overspend_the_tenants_budget(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer, server: LiveServer
) -> None:
    await _free_plan_allows(
        server, accounts, chat_tokens_per_month=ROOM * PER_ANSWER.max_tokens_per_turn, chat_tokens_per_user_per_day=None
    )
    owner = await accounts.tenant_owner()
    conversations = [await _start(client, owner) for _ in range(20)]
    gate = asyncio.Event()
    model.script(then=[gate, TextDelta("ok"), Finish("stop")])

    async def post(conversation: str) -> httpx.Response:
        return await client.post(
            f"/api/conversas/{conversation}/mensagens", json={"content": "oi"}, headers=owner.bearer
        )

    posts = [asyncio.create_task(post(c)) for c in conversations]
    await eventually(lambda: asyncio.sleep(0, sum(p.done() for p in posts) == 20 - ROOM or None), within=60)
    await eventually(lambda: asyncio.sleep(0, len(model.requests) == ROOM or None), within=30)
    month = server.uc.ports.clock.now().strftime("%Y-%m")
    assert await _spent(server, tenant_budget(owner.tenant_id), month) == (
        ROOM * PER_ANSWER.max_tokens_per_turn,
        ROOM * PER_ANSWER.max_tool_calls,
    )
    gate.set()
    responses = await asyncio.gather(*posts)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * ROOM + [402] * (20 - ROOM)
    for refused in (r for r in responses if r.status_code == 402):
        assert_error(refused, 402, "chat_budget_spent")
    assert len(model.requests) == ROOM
    # Each answer spent one (estimated) token and no tool call; the rest of each reservation came back.
    assert await _spent(server, tenant_budget(owner.tenant_id), month) == (ROOM, 0)
    listed = await client.get(f"/api/conversas/{conversations[0]}/mensagens", headers=owner.bearer)
    refused_or_not = listed.json()["total"]
    assert refused_or_not in (0, 2)  # a refused post stores nothing


async def test_a_users_daily_budget_answers_429_with_retry_after(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer, server: LiveServer
) -> None:
    await _free_plan_allows(
        server, accounts, chat_tokens_per_month=None, chat_tokens_per_user_per_day=PER_ANSWER.max_tokens_per_turn + 1
    )
    owner = await accounts.tenant_owner("Daily")
    conversation = await _start(client, owner)
    gate = asyncio.Event()
    model.script([gate, TextDelta("ok"), Finish("stop")], then=[TextDelta("ok"), Finish("stop")])
    url = f"/api/conversas/{conversation}/mensagens"

    first = asyncio.create_task(client.post(url, json={"content": "oi"}, headers=owner.bearer))
    await eventually(lambda: asyncio.sleep(0, model.requests or None), within=30)
    second = await client.post(url, json={"content": "oi de novo"}, headers=owner.bearer)
    gate.set()

    assert (await first).status_code == 201
    assert_error(second, 429, "chat_rate_exceeded")
    assert 0 < int(second.headers["retry-after"]) <= 86_400
    assert len(model.requests) == 1
    day = server.uc.ports.clock.now().strftime("%Y-%m-%d")
    assert await _spent(server, user_budget(owner.user_id), day) == (1, 0)
    third = await client.post(url, json={"content": "e agora?"}, headers=owner.bearer)
    assert third.status_code == 201, third.text  # the first answer gave back what it did not spend
    fourth = await client.post(url, json={"content": "mais?"}, headers=owner.bearer)
    assert_error(fourth, 429, "chat_rate_exceeded")  # 2 spent: a whole reservation no longer fits


async def test_an_answer_streaming_past_its_reservation_is_stopped_with_an_error_event(
    client: httpx.AsyncClient, accounts: Accounts, model: ScriptedModelServer, server: LiveServer
) -> None:
    await _free_plan_allows(server, accounts)
    owner = await accounts.tenant_owner("Chatty")
    conversation = await _start(client, owner)
    model.script([Forever("x" * 1000, every=0.01)])  # a provider that ignores max_tokens

    response = await client.post(
        f"/api/conversas/{conversation}/mensagens", json={"content": "fala"}, headers={**owner.bearer, **SSE}
    )

    events = parse(response.content)
    assert [e[1] for e in events[-2:]] == ["error", "done"]
    assert events[-2][2]["code"] == "chat_budget_spent"
    done = events[-1][2]
    assert done["status"] == "failed"
    assert 0 < len(done["content"]) <= PER_ANSWER.max_tokens_per_turn * 4
    await eventually(lambda: asyncio.sleep(0, model.closed or None), within=10)
