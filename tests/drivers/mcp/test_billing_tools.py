"""Billing tools and their REST twins: same use case, same data, same errors (message and code)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tesserra_core.domain.billing import Interval, Invoice
from tesserra_core.domain.identity import Tier
from tesserra_core.usecases.billing_plans import NewPlan, NewPrice
from tests.drivers.mcp.helpers import Site, bearer, mcp_session, texts


async def test_list_plans_and_get_subscription_match_rest(site: Site) -> None:
    code = f"mcp-{uuid.uuid4().hex[:6]}"
    await site.uc.plans.create(
        site.server.admin, NewPlan(code=code, name="MCP", prices=[NewPrice("EUR", Interval.MONTH, 990)])
    )
    async with mcp_session(site.mcp_url, bearer(site.owner_token)) as session:
        plans = await session.call_tool("list_plans", {"limite": 500})
        subscription = await session.call_tool("get_subscription", {})
    async with site.http(site.owner_token) as http:
        rest_plans = (await http.get("/api/planos", params={"limite": 500})).json()
        rest_subscription = (await http.get("/api/assinatura")).json()
    assert not plans.is_error
    assert plans.structured_content == rest_plans
    assert code in {p["code"] for p in rest_plans["items"]}
    assert subscription.structured_content == rest_subscription
    assert rest_subscription["plan"] == "free"


async def test_invoices_match_rest_and_another_tenants_is_not_found(site: Site) -> None:
    paid = datetime(2026, 3, 1, tzinfo=UTC)
    mine, theirs = f"in_mcp_{uuid.uuid4().hex[:8]}", f"in_other_{uuid.uuid4().hex[:8]}"
    async with site.uc.ports.uow() as uow:
        for invoice_id, tenant_id in ((mine, site.owner.tenant_id), (theirs, site.server.admin.tenant_id)):
            await uow.invoices.put(
                Invoice(
                    id=invoice_id,
                    customer_id="cus_mcp",
                    subscription_id=None,
                    status="paid",
                    currency="EUR",
                    amount_due=990,
                    amount_paid=990,
                    created_at=paid,
                    paid_at=paid,
                    tenant_id=tenant_id,
                    as_of=paid,
                )
            )
        await uow.commit()
    async with mcp_session(site.mcp_url, bearer(site.owner_token)) as session:
        listed = await session.call_tool("list_invoices", {"limite": 500})
        one = await session.call_tool("get_invoice", {"invoice_id": mine})
        other = await session.call_tool("get_invoice", {"invoice_id": theirs})
    async with site.http(site.owner_token) as http:
        rest_listed = (await http.get("/api/assinatura/faturas", params={"limite": 500})).json()
        rest_one = (await http.get(f"/api/assinatura/faturas/{mine}")).json()
        rest_other = await http.get(f"/api/assinatura/faturas/{theirs}")
    assert listed.structured_content == rest_listed
    assert mine in {i["id"] for i in rest_listed["items"]}
    assert theirs not in {i["id"] for i in rest_listed["items"]}
    assert one.structured_content == rest_one
    assert rest_other.status_code == 404
    assert other.is_error
    assert other.structured_content["code"] == rest_other.json()["code"] == "invoice_not_found"


async def test_create_checkout_fails_over_mcp_exactly_as_over_rest(site: Site) -> None:
    code = f"mcp-{uuid.uuid4().hex[:6]}"
    await site.uc.plans.create(
        site.server.admin, NewPlan(code=code, name="MCP", prices=[NewPrice("EUR", Interval.MONTH, 990)])
    )
    key = await site.key("billing:write", "billing:read", tier=Tier.STANDARD)
    async with mcp_session(site.mcp_url, bearer(key.key)) as session:
        result = await session.call_tool("create_checkout", {"plan": code, "currency": "EUR"})
        cancel = await session.call_tool("cancel_subscription", {})
    async with site.http(key.key) as http:
        rest = await http.post("/api/assinatura/checkout", json={"plan": code, "currency": "EUR"})
        rest_cancel = await http.post("/api/assinatura/cancelar")
    assert rest.status_code == 409
    assert result.is_error
    assert texts(result)[0] == rest.json()["detail"] == "plan has no synced price for EUR"
    assert result.structured_content["code"] == rest.json()["code"] == "price_not_synced"
    assert rest_cancel.status_code == 404
    assert cancel.structured_content["code"] == rest_cancel.json()["code"] == "subscription_not_found"


async def test_finance_tools_are_for_platform_admins_only(site: Site) -> None:
    async with mcp_session(site.mcp_url, bearer(site.owner_token)) as session:
        listed = {tool.name for tool in (await session.list_tools()).tools}
    assert "finance_mrr" not in listed
