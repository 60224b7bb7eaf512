"""The platform administrators' pages over a real socket: the admin index, every tenant (create with its owner,
edit, suspend, reactivate), plans (create with limits and a price, edit, prices, archive, sync) and platform
agents (create, edit, delete), each write through the page; a tenant owner who is not a platform administrator
sees no Admin link, gets the 403 page and has every write refused; hostile input gets a 4xx page with its
message, never a 500; writes without the CSRF token or from another origin are refused."""

from __future__ import annotations

import re
import uuid

from tests.drivers.http.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, Accounts, unique_email
from tests.drivers.web.conftest import ConsoleClient

_ID = re.compile(r"/console/admin/\w+/([^/?]+)$")


def _code(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}"


async def _admin(clients) -> ConsoleClient:
    console = ConsoleClient(clients())
    await console.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    return console


def _created(response) -> str:
    assert response.status_code == 303, response.text
    found = _ID.search(response.headers["location"])
    assert found, response.headers["location"]
    return found.group(1)


async def test_the_admin_index_is_linked_for_platform_administrators_only(clients, accounts: Accounts) -> None:
    console = await _admin(clients)
    overview = await console.get("/console/")
    assert 'href="/console/admin"' in overview.text
    index = await console.get("/console/admin")
    assert index.status_code == 200
    for page in ("/console/admin/tenants", "/console/admin/plans", "/console/admin/agents"):
        assert f'href="{page}"' in index.text

    owner = await accounts.tenant_owner()
    other = ConsoleClient(clients())
    await other.sign_in(owner.email, PASSWORD)
    assert 'href="/console/admin"' not in (await other.get("/console/")).text
    refused = await other.get("/console/admin")
    assert refused.status_code == 403
    assert "platform administrators only" in refused.text


async def test_tenants_created_edited_suspended_and_reactivated_through_the_pages(clients) -> None:
    console = await _admin(clients)
    page = await console.get("/console/admin/tenants")
    assert page.status_code == 200
    assert 'id="new-tenant"' in page.text
    email = unique_email("boss")
    name = f"Made here {uuid.uuid4().hex[:6]}"
    made = await console.post(
        "/console/admin/tenants", {"name": name, "plan": "free", "owner_email": email, "owner_password": PASSWORD}
    )
    tenant_id = _created(made)
    shown = await console.get(f"/console/admin/tenants/{tenant_id}")
    assert name in shown.text
    first = await console.get("/console/admin/tenants")
    pages = re.search(r"Page 1 of (\d+)", first.text)
    last = await console.get(f"/console/admin/tenants?page={pages.group(1) if pages else 1}")  # oldest first
    assert f'<tr id="tenant-{tenant_id}">' in last.text

    owner = ConsoleClient(clients())
    await owner.sign_in(email, PASSWORD)  # the new owner signs in to their tenant
    assert name in (await owner.get("/console/")).text

    slug = _code("renamed")
    saved = await console.post(f"/console/admin/tenants/{tenant_id}", {"name": "Renamed", "slug": slug, "plan": "pro"})
    assert saved.status_code == 303, saved.text
    shown = await console.get(f"/console/admin/tenants/{tenant_id}")
    assert "Renamed" in shown.text
    assert slug in shown.text
    assert "<dd>pro</dd>" in shown.text

    suspended = await console.post(f"/console/admin/tenants/{tenant_id}/suspend")
    assert suspended.status_code == 303
    shown = await console.get(f"/console/admin/tenants/{tenant_id}")
    assert '<dd id="tenant-status">suspended</dd>' in shown.text
    assert 'id="reactivate-tenant"' in shown.text
    assert (await owner.get("/console/")).status_code == 303  # the owner's session ended: back to sign in
    reactivated = await console.post(f"/console/admin/tenants/{tenant_id}/reactivate")
    assert reactivated.status_code == 303
    assert '<dd id="tenant-status">active</dd>' in (await console.get(f"/console/admin/tenants/{tenant_id}")).text


async def test_hostile_tenant_input_gets_a_4xx_page_with_its_message(clients, accounts: Accounts) -> None:
    console = await _admin(clients)
    await console.get("/console/admin/tenants")
    no_password = await console.post("/console/admin/tenants", {"name": "Nobody", "owner_email": unique_email()})
    assert no_password.status_code == 422
    assert "owner_password is required" in no_password.text
    assert 'value="Nobody"' in no_password.text  # what was typed stays
    bad_slug = await console.post("/console/admin/tenants", {"name": "Bad", "slug": "Not A Slug!"})
    assert bad_slug.status_code == 400
    assert "this tenant cannot be made" in bad_slug.text
    taken = await accounts.tenant_owner()
    clash = await console.post(
        "/console/admin/tenants", {"name": "Clash", "owner_email": taken.email, "owner_password": PASSWORD}
    )
    assert clash.status_code == 409
    assert "a user with this email exists" in clash.text
    assert (await console.post("/console/admin/tenants", {"name": "<script>" * 40})).status_code == 400
    assert (await console.get("/console/admin/tenants?page=abc")).status_code == 400
    assert (await console.get("/console/admin/tenants/nope")).status_code == 404
    assert (await console.post("/console/admin/tenants/nope/suspend")).status_code == 404
    # the administrator's own tenant: refused with the reason, on the tenant's page
    own = (await accounts.admin()).tenant_id
    refused = await console.post(f"/console/admin/tenants/{own}/suspend")
    assert refused.status_code == 409
    assert "cannot suspend their own tenant" in refused.text
    edited = await console.post(f"/console/admin/tenants/{own}", {"name": "x", "slug": "x", "plan": "NO!"})
    assert edited.status_code == 400


async def test_plans_created_priced_edited_archived_through_the_pages(clients) -> None:
    console = await _admin(clients)
    assert (await console.get("/console/admin/plans")).status_code == 200
    code = _code("team")
    made = await console.post(
        "/console/admin/plans",
        {
            "code": code,
            "name": "Team",
            "description": "For teams",
            "limit_projects": "7",
            "limit_domains": "",  # unlimited
            "currency": "EUR",
            "interval": "month",
            "amount": "1900",
        },
    )
    plan_id = _created(made)
    shown = await console.get(f"/console/admin/plans/{plan_id}")
    assert code in shown.text
    assert 'name="limit_projects" inputmode="numeric" maxlength="20" size="10" value="7"' in shown.text
    assert 'name="limit_domains" inputmode="numeric" maxlength="20" size="10" value=""' in shown.text
    assert "<td>1900</td><td>EUR</td><td>month</td>" in shown.text
    assert code in (await console.get("/console/admin/plans")).text

    priced = await console.post(
        f"/console/admin/plans/{plan_id}/prices", {"currency": "usd", "interval": "year", "amount": "20000"}
    )
    assert priced.status_code == 303, priced.text
    shown = await console.get(f"/console/admin/plans/{plan_id}")
    price = re.search(r'<tr id="price-([^"]+)">\s*<td>20000</td>', shown.text)
    assert price, shown.text
    archived = await console.post(f"/console/admin/plans/{plan_id}/prices/{price.group(1)}/archive")
    assert archived.status_code == 303
    shown = await console.get(f"/console/admin/plans/{plan_id}")
    assert "<td>20000</td><td>USD</td><td>year</td>\n    <td>archived</td>" in shown.text

    saved = await console.post(
        f"/console/admin/plans/{plan_id}", {"name": "Team plus", "description": "", "limit_projects": "9"}
    )
    assert saved.status_code == 303, saved.text
    shown = await console.get(f"/console/admin/plans/{plan_id}")
    assert "<h1>Team plus</h1>" in shown.text
    assert 'value="9"' in shown.text

    assert (await console.post(f"/console/admin/plans/{plan_id}/archive")).status_code == 303
    assert '<dd id="plan-state">archived</dd>' in (await console.get(f"/console/admin/plans/{plan_id}")).text
    assert (await console.post(f"/console/admin/plans/{plan_id}/reactivate")).status_code == 303
    assert '<dd id="plan-state">active</dd>' in (await console.get(f"/console/admin/plans/{plan_id}")).text

    synced = await console.post(f"/console/admin/plans/{plan_id}/sync")  # no payment provider configured here
    assert synced.status_code == 503
    assert "<h1>Team plus</h1>" in synced.text  # the plan's page, with the reason
    assert 'role="alert"' in synced.text


async def test_hostile_plan_input_gets_a_4xx_page_with_its_message(clients) -> None:
    console = await _admin(clients)
    await console.get("/console/admin/plans")
    bad_limit = await console.post("/console/admin/plans", {"code": _code("p"), "name": "P", "limit_projects": "-1"})
    assert bad_limit.status_code == 400
    assert "this plan cannot be made" in bad_limit.text
    assert 'value="-1"' in bad_limit.text
    text_limit = await console.post("/console/admin/plans", {"code": _code("p"), "name": "P", "limit_agents": "many"})
    assert text_limit.status_code == 400
    assert "limits.agents" in text_limit.text
    bad_code = await console.post("/console/admin/plans", {"code": "Not A Code", "name": "P"})
    assert bad_code.status_code == 400
    bad_price = await console.post(
        "/console/admin/plans", {"code": _code("p"), "name": "P", "currency": "ZZZ", "amount": "100"}
    )
    assert bad_price.status_code == 400
    code = _code("dup")
    plan_id = _created(await console.post("/console/admin/plans", {"code": code, "name": "Dup"}))
    again = await console.post("/console/admin/plans", {"code": code, "name": "Dup"})
    assert again.status_code == 409
    for amount in ("-5", "1e3", "9" * 30):
        refused = await console.post(
            f"/console/admin/plans/{plan_id}/prices", {"currency": "EUR", "interval": "month", "amount": amount}
        )
        assert refused.status_code == 400, (amount, refused.status_code)
        assert "this price cannot be added" in refused.text
    wrong = await console.post(
        f"/console/admin/plans/{plan_id}/prices", {"currency": "EUR", "interval": "fortnight", "amount": "5"}
    )
    assert wrong.status_code == 400
    assert (await console.get("/console/admin/plans/nope")).status_code == 404
    assert (await console.post("/console/admin/plans/nope/archive")).status_code == 404
    assert (await console.post(f"/console/admin/plans/{plan_id}/prices/nope/archive")).status_code == 404
    assert (await console.get("/console/admin/plans?page=0")).status_code == 400


async def test_platform_agents_created_edited_deleted_through_the_pages(clients, accounts: Accounts, server) -> None:
    console = await _admin(clients)
    page = await console.get("/console/admin/agents")
    assert page.status_code == 200
    assert "ops-assistant" in page.text
    agent_id = _code("helper")
    made = await console.post(
        "/console/admin/agents",
        {
            "id": agent_id,
            "name": "Helper",
            "vertical": "support",
            "description": "Helps",
            "instructions": "Answer <b>briefly</b>.",
            "tools": "list_projects",
            "temperature": "0.3",
            "max_steps": "4",
        },
    )
    assert _created(made) == agent_id
    made_view = await server.uc.agents.admin_get(await accounts.admin_principal(), agent_id)
    assert made_view.sampling.temperature == 0.3
    assert made_view.limits.max_steps == 4
    assert made_view.limits.max_tool_calls == 8  # left empty: the default
    shown = await console.get(f"/console/admin/agents/{agent_id}")
    assert "version 1" in shown.text
    assert "Answer &lt;b&gt;briefly&lt;/b&gt;." in shown.text  # escaped
    saved = await console.post(
        f"/console/admin/agents/{agent_id}",
        {"name": "Helper 2", "vertical": "support", "description": "", "instructions": "Be kind.", "tools": ""},
    )
    assert saved.status_code == 303, saved.text
    shown = await console.get(f"/console/admin/agents/{agent_id}")
    assert "version 2" in shown.text
    assert "Helper 2" in shown.text

    bad_id = await console.post(
        "/console/admin/agents", {"id": "Not An Id", "name": "X", "vertical": "support", "instructions": "x"}
    )
    assert bad_id.status_code == 400
    assert "this agent cannot be made" in bad_id.text
    taken = await console.post(
        "/console/admin/agents", {"id": agent_id, "name": "X", "vertical": "support", "instructions": "x"}
    )
    assert taken.status_code == 409
    empty = await console.post(f"/console/admin/agents/{agent_id}", {"name": "", "vertical": "support"})
    assert empty.status_code == 400
    for field, value in (("temperature", "nan"), ("temperature", "3"), ("top_p", "hot"), ("max_steps", "0")):
        form = {"name": "X", "vertical": "support", "instructions": "x", field: value}
        refused = await console.post(f"/console/admin/agents/{agent_id}", form)
        assert refused.status_code == 400, (field, value, refused.status_code)
        assert "this agent cannot be saved" in refused.text
        assert f'value="{value}"' in refused.text  # what was typed stays

    deleted = await console.post(f"/console/admin/agents/{agent_id}/delete")
    assert deleted.status_code == 303
    assert (await console.get(f"/console/admin/agents/{agent_id}")).status_code == 404
    assert f'id="agent-{agent_id}"' not in (await console.get("/console/admin/agents")).text


async def test_a_tenant_owner_gets_the_refusal_page_and_every_write_is_refused(clients, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    console = ConsoleClient(clients())
    await console.sign_in(owner.email, PASSWORD)
    for path in (
        "/console/admin",
        "/console/admin/tenants",
        f"/console/admin/tenants/{owner.tenant_id}",
        "/console/admin/plans",
        "/console/admin/plans/any",
        "/console/admin/agents",
        "/console/admin/agents/ops-assistant",
    ):
        page = await console.get(path)
        assert page.status_code == 403, path
        assert "platform administrators only" in page.text
    await console.get("/console/")  # a page with this session's token
    for path, form in (
        ("/console/admin/tenants", {"name": "Mine", "owner_email": owner.email}),
        (f"/console/admin/tenants/{owner.tenant_id}", {"name": "Mine", "slug": "mine", "plan": "pro"}),
        (f"/console/admin/tenants/{owner.tenant_id}/suspend", {}),
        (f"/console/admin/tenants/{owner.tenant_id}/reactivate", {}),
        ("/console/admin/plans", {"code": _code("free"), "name": "Free for me"}),
        ("/console/admin/plans/any", {"name": "x"}),
        ("/console/admin/plans/any/archive", {}),
        ("/console/admin/plans/any/reactivate", {}),
        ("/console/admin/plans/any/prices", {"currency": "EUR", "interval": "month", "amount": "0"}),
        ("/console/admin/plans/any/prices/any/archive", {}),
        ("/console/admin/plans/any/sync", {}),
        ("/console/admin/agents", {"name": "Mine", "vertical": "support", "instructions": "x"}),
        ("/console/admin/agents/ops-assistant", {"name": "Mine", "vertical": "support", "instructions": "x"}),
        ("/console/admin/agents/ops-assistant/delete", {}),
    ):
        refused = await console.post(path, form)
        assert refused.status_code == 403, (path, refused.status_code)
    admin = await _admin(clients)
    assert "ops-assistant" in (await admin.get("/console/admin/agents/ops-assistant")).text  # still there


async def test_admin_writes_need_the_csrf_token_and_this_origin(clients) -> None:
    console = await _admin(clients)
    await console.get("/console/admin/plans")
    for path, form in (
        ("/console/admin/tenants", {"name": "Forged"}),
        ("/console/admin/plans", {"code": _code("forged"), "name": "Forged"}),
        ("/console/admin/agents", {"name": "Forged", "vertical": "support", "instructions": "x"}),
        ("/console/admin/tenants/any/suspend", {}),
    ):
        assert (await console.post(path, form, csrf=None)).status_code == 403
        assert (await console.post(path, form, csrf="forged")).status_code == 403
        assert (await console.post(path, form, origin="https://evil.example")).status_code == 403
        assert (await console.post(path, form, origin=None)).status_code == 403
    assert "Forged" not in (await console.get("/console/admin/plans")).text
    assert "Forged" not in (await console.get("/console/admin/agents")).text


async def test_the_tenants_page_shows_the_current_tenant(clients, accounts: Accounts, server) -> None:
    owner = await accounts.tenant_owner("Shown")
    console = ConsoleClient(clients())
    await console.sign_in(owner.email, PASSWORD)
    tenant = await server.uc.tenants.current(await server.uc.authenticate(owner.access))
    page = await console.get("/console/tenants")
    assert page.status_code == 200
    assert f"<h1>{tenant.name}</h1>" in page.text
    assert f"<code>{tenant.slug}</code>" in page.text
    assert f"<code>{owner.tenant_id}</code>" in page.text
