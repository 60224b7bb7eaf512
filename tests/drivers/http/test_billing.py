"""Billing over HTTP on a live server whose Stripe is the recording server: the public catalogue,
admin plans, checkout (409 rules, concurrent requests under one Idempotency-Key), webhooks
(signatures, redelivery), finance (admins only), and 503 when Stripe is not configured."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tesserra_core.domain.billing import BillingCustomer
from tesserra_core.domain.identity import Role
from tesserra_core.domain.plans import PlanLimits
from tests import stripe_support as s
from tests import support
from tests.drivers.http.conftest import BACKENDS, Account, Accounts, ClientFactory, assert_error, fresh_address
from tests.stripe_recorder import StripeRecorder, stripe_recorder
from tests.support import LiveServer, database_url, live_server

SECRET = "whsec_http_tests"


class Billing:
    def __init__(self, server: LiveServer, recorder: StripeRecorder) -> None:
        self.server = server
        self.recorder = recorder
        self.accounts = Accounts(server.uc)

    def client(self) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=fresh_address())
        return httpx.AsyncClient(base_url=self.server.url, transport=transport, timeout=20.0)


@pytest.fixture(scope="module", params=BACKENDS)
async def billing(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Billing]:
    tmp = tmp_path_factory.mktemp(f"billing-{request.param}")
    async with stripe_recorder() as recorder, database_url(request.param, tmp) as url:
        settings = support.test_settings(
            tmp, url, stripe_api_key="sk_test_http", stripe_webhook_secret=SECRET, stripe_api_base=recorder.url
        )
        async with live_server(settings) as server:
            assert await server.uc.operators.ensure_first_owner("root@tesserra.test", "root-password-1")
            yield Billing(server, recorder)


@pytest.fixture
async def api(billing: Billing) -> AsyncIterator[httpx.AsyncClient]:
    async with billing.client() as client:
        yield client


async def admin_of(billing: Billing) -> Account:
    return await billing.accounts.admin()


async def synced_plan(api: httpx.AsyncClient, admin: Account, code: str | None = None) -> dict[str, Any]:
    body = {
        "code": code or f"pro-{uuid.uuid4().hex[:6]}",
        "name": "Pro",
        "limits": {"projects": 50, "storage_bytes": None},
        "prices": [
            {"currency": "EUR", "interval": "month", "amount": 1900},
            {"currency": "usd", "interval": "year", "amount": 19000},
        ],
    }
    created = await api.post("/api/admin/planos", json=body, headers=admin.bearer)
    assert created.status_code == 201, created.text
    synced = await api.post(f"/api/admin/planos/{created.json()['id']}/sync", headers=admin.bearer)
    assert synced.status_code == 200, synced.text
    plan: dict[str, Any] = synced.json()
    assert all(p["synced"] for p in plan["prices"])
    return plan


async def test_catalogue_is_public_and_admin_plans_are_not(billing: Billing, api: httpx.AsyncClient) -> None:
    admin = await admin_of(billing)
    plan = await synced_plan(api, admin)
    listed = await api.get("/api/planos?limite=500")
    assert listed.status_code == 200
    assert set(listed.json()) == {"items", "total", "limite", "offset"}
    mine = next(p for p in listed.json()["items"] if p["id"] == plan["id"])
    assert mine["limits"]["projects"] == 50
    assert mine["limits"]["storage_bytes"] is None
    assert {(p["currency"], p["interval"], p["amount"]) for p in mine["prices"]} == {
        ("EUR", "month", 1900),
        ("USD", "year", 19000),
    }

    owner = await billing.accounts.tenant_owner()
    assert_error(await api.get("/api/admin/planos", headers=owner.bearer), 403, "admin_only")
    assert_error(await api.post("/api/admin/planos", json={"code": "x", "name": "X"}, headers=owner.bearer), 403)
    assert_error(await api.post(f"/api/admin/planos/{plan['id']}/sync", headers=owner.bearer), 403)
    assert_error(await api.get("/api/admin/planos"), 401)
    assert_error(await api.get("/api/planos?limite=0"), 400)


@pytest.mark.parametrize(
    "body",
    [
        {"code": "ok", "name": "X", "prices": [{"currency": "EURO", "interval": "month", "amount": 1}]},
        {"code": "ok", "name": "X", "prices": [{"currency": "EUR", "interval": "week", "amount": 1}]},
        {"code": "ok", "name": "X", "prices": [{"currency": "EUR", "interval": "month", "amount": -5}]},
        {"code": "ok", "name": "X", "prices": [{"currency": "EUR", "interval": "month", "amount": 1.5}]},
        {"code": "Not A Code", "name": "X"},
        {"code": "ok", "name": "X", "surprise": True},
        {"code": "ok", "name": "X", "limits": {"projects": -1}},
    ],
)
async def test_bad_plans_are_400(billing: Billing, api: httpx.AsyncClient, body: dict[str, Any]) -> None:
    admin = await admin_of(billing)
    assert_error(await api.post("/api/admin/planos", json=body, headers=admin.bearer), 400)


async def test_checkout_rules_and_the_stripe_call(billing: Billing, api: httpx.AsyncClient) -> None:
    admin = await admin_of(billing)
    plan = await synced_plan(api, admin)
    unsynced = await api.post(
        "/api/admin/planos",
        json={
            "code": f"brl-{uuid.uuid4().hex[:6]}",
            "name": "BRL",
            "prices": [{"currency": "BRL", "interval": "month", "amount": 4900}],
        },
        headers=admin.bearer,
    )
    owner = await billing.accounts.tenant_owner()
    body = assert_error(
        await api.post(
            "/api/assinatura/checkout", json={"plan": unsynced.json()["code"], "currency": "BRL"}, headers=owner.bearer
        ),
        409,
        "price_not_synced",
    )
    assert body["detail"] == "plan has no synced price for BRL"
    assert_error(
        await api.post(
            "/api/assinatura/checkout", json={"plan": plan["code"], "currency": "GBP"}, headers=owner.bearer
        ),
        409,
    )
    assert_error(
        await api.post("/api/assinatura/checkout", json={"plan": "nope", "currency": "EUR"}, headers=owner.bearer), 404
    )
    assert_error(
        await api.post("/api/assinatura/checkout", json={"plan": plan["code"], "currency": "??"}, headers=owner.bearer),
        400,
    )
    assert_error(await api.post("/api/assinatura/checkout", json={"plan": plan["code"]}, headers=owner.bearer), 400)

    done = await api.post(
        "/api/assinatura/checkout",
        json={"plan": plan["code"], "currency": "usd", "interval": "year"},
        headers=owner.bearer,
    )
    assert done.status_code == 201, done.text
    assert done.json()["url"].startswith("https://checkout.stripe.com/")
    call = billing.recorder.calls("POST", "/v1/checkout/sessions")[-1]
    usd = next(p for p in plan["prices"] if p["currency"] == "USD")
    assert call.form["line_items[0][price]"] == usd["stripe_price_id"]
    assert call.form["client_reference_id"] == owner.tenant_id
    assert call.headers["idempotency-key"].startswith("tesserra-checkout-")


async def test_concurrent_checkouts_with_one_idempotency_key_create_one_session(
    billing: Billing,
) -> None:
    admin = await admin_of(billing)
    async with billing.client() as api:
        plan = await synced_plan(api, admin)
    owner = await billing.accounts.tenant_owner()
    key = f"ck-{uuid.uuid4().hex}"
    before = len(billing.recorder.calls("POST", "/v1/checkout/sessions"))

    async def attempt() -> httpx.Response:
        async with billing.client() as c:
            return await c.post(
                "/api/assinatura/checkout",
                json={"plan": plan["code"], "currency": "EUR"},
                headers={**owner.bearer, "Idempotency-Key": key},
            )

    responses = await asyncio.gather(*(attempt() for _ in range(6)))
    assert {r.status_code for r in responses} <= {201, 409}, [r.text for r in responses]
    created = [r for r in responses if r.status_code == 201]
    assert created
    assert len({r.json()["session_id"] for r in created}) == 1
    for r in responses:
        if r.status_code == 409:
            assert r.json()["code"] == "idempotency_in_flight"
    retry = await attempt()
    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == created[0].json()
    sessions = billing.recorder.calls("POST", "/v1/checkout/sessions")[before:]
    assert len(sessions) == 1
    customers = [
        c for c in billing.recorder.calls("POST", "/v1/customers") if c.form["metadata[tenant_id]"] == owner.tenant_id
    ]
    assert len(customers) == 1


async def test_webhooks_verify_store_once_and_drive_the_subscription(billing: Billing, api: httpx.AsyncClient) -> None:
    admin = await admin_of(billing)
    plan = await synced_plan(api, admin)
    owner = await billing.accounts.tenant_owner()
    assert (
        await api.post("/api/assinatura/checkout", json={"plan": plan["code"], "currency": "EUR"}, headers=owner.bearer)
    ).status_code == 201
    async with billing.server.uc.ports.uow(read_only=True) as uow:
        customer = await uow.subscriptions.customer(owner.tenant_id)
    assert customer is not None
    eur = next(p["stripe_price_id"] for p in plan["prices"] if p["currency"] == "EUR")
    now = int(time.time())
    payload = s.event(
        "customer.subscription.created", s.subscription(f"sub_{owner.tenant_id}", customer.customer_id, eur), now
    )

    for signature, tampered in (
        (s.sign(payload, "whsec_wrong"), False),
        (s.sign(payload, SECRET, now - 600), False),
        (s.sign(payload, SECRET), True),
        ("", False),
    ):
        body = payload.replace(b'"active"', b'"trialing"') if tampered else payload
        assert_error(
            await api.post("/api/webhooks/stripe", content=body, headers={"Stripe-Signature": signature}),
            400,
            "invalid_signature",
        )
    assert (await api.get("/api/assinatura", headers=owner.bearer)).json()["status"] is None

    first = await api.post(
        "/api/webhooks/stripe", content=payload, headers={"Stripe-Signature": s.sign(payload, SECRET)}
    )
    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "duplicate": False, "processed": True}
    again = await api.post(
        "/api/webhooks/stripe", content=payload, headers={"Stripe-Signature": s.sign(payload, SECRET)}
    )
    assert again.json() == {"received": True, "duplicate": True, "processed": False}

    view = (await api.get("/api/assinatura", headers=owner.bearer)).json()
    assert (view["status"], view["subscribed"], view["plan"]) == ("active", True, plan["code"])
    assert view["limits"]["projects"] == 50
    assert (await billing.server.uc.ports.entitlements.of(owner.tenant_id)).limits == PlanLimits(
        projects=50, storage_bytes=None
    )
    assert_error(
        await api.post(
            "/api/assinatura/checkout", json={"plan": plan["code"], "currency": "EUR"}, headers=owner.bearer
        ),
        409,
        "already_subscribed",
    )
    portal = await api.post("/api/assinatura/portal", headers=owner.bearer)
    assert portal.status_code == 200
    assert portal.json()["url"].startswith("https://billing.stripe.com/")

    stranger = await billing.accounts.tenant_owner()  # another tenant sees nothing of it
    theirs = (await api.get("/api/assinatura", headers=stranger.bearer)).json()
    assert (theirs["status"], theirs["plan"], theirs["subscribed"]) == (None, "free", False)
    assert_error(await api.post("/api/assinatura/cancelar", headers=stranger.bearer), 404, "subscription_not_found")
    assert_error(await api.post("/api/assinatura/portal", headers=stranger.bearer), 404, "customer_not_found")


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
async def test_only_owners_may_start_checkouts_or_cancel(billing: Billing, api: httpx.AsyncClient, role: Role) -> None:
    admin = await admin_of(billing)
    plan = await synced_plan(api, admin)
    owner = await billing.accounts.tenant_owner()
    someone = await billing.accounts.member(owner.tenant_id, role)
    checkout = {"plan": plan["code"], "currency": "EUR"}
    assert_error(
        await api.post("/api/assinatura/checkout", json=checkout, headers=someone.bearer), 403, "insufficient_scope"
    )
    assert_error(await api.post("/api/assinatura/cancelar", headers=someone.bearer), 403, "insufficient_scope")
    assert_error(await api.get("/api/assinatura", headers=someone.bearer), 403, "insufficient_scope")


async def test_concurrent_deliveries_of_one_event_apply_it_once(billing: Billing) -> None:
    owner = await billing.accounts.tenant_owner()
    async with billing.server.uc.ports.uow() as uow:
        await uow.subscriptions.add_customer(
            BillingCustomer(
                tenant_id=owner.tenant_id, customer_id=f"cus_{owner.tenant_id}", created_at=datetime.now(UTC)
            )
        )
        await uow.commit()
    payload = s.event(
        "invoice.paid", s.invoice(f"in_{owner.tenant_id}", f"cus_{owner.tenant_id}", None), int(time.time())
    )

    async def deliver() -> dict[str, Any]:
        async with billing.client() as c:
            response = await c.post(
                "/api/webhooks/stripe", content=payload, headers={"Stripe-Signature": s.sign(payload, SECRET)}
            )
            assert response.status_code == 200, response.text
            return dict(response.json())

    acks = await asyncio.gather(*(deliver() for _ in range(6)))
    assert sum(a["processed"] for a in acks) == 1
    assert sum(not a["duplicate"] for a in acks) == 1
    admin = await admin_of(billing)
    async with billing.client() as c:
        page = (await c.get(f"/api/admin/financeiro/faturas?tenant_id={owner.tenant_id}", headers=admin.bearer)).json()
    assert [(i["status"], i["amount_paid"], i["currency"]) for i in page["items"]] == [("paid", 1900, "EUR")]


async def test_finance_is_for_platform_admins(billing: Billing, api: httpx.AsyncClient) -> None:
    admin = await admin_of(billing)
    owner = await billing.accounts.tenant_owner()
    for path in ("mrr", "assinaturas", "receita", "churn", "faturas"):
        assert_error(await api.get(f"/api/admin/financeiro/{path}", headers=owner.bearer), 403, "admin_only")
        assert (await api.get(f"/api/admin/financeiro/{path}", headers=admin.bearer)).status_code == 200
    assert_error(await api.get("/api/admin/financeiro/receita?since=yesterday", headers=admin.bearer), 400)
    assert_error(
        await api.get(
            "/api/admin/financeiro/churn?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", headers=admin.bearer
        ),
        422,
        "invalid_period",
    )
    assert_error(await api.get("/api/admin/financeiro/faturas?status=lost", headers=admin.bearer), 400)
    assert_error(await api.get("/api/admin/financeiro/faturas?currency=EURO", headers=admin.bearer), 400)
    page = await api.get("/api/admin/financeiro/faturas?limite=5&currency=eur&status=paid", headers=admin.bearer)
    assert page.status_code == 200
    assert set(page.json()) == {"items", "total", "limite", "offset"}


async def test_without_a_stripe_key_billing_answers_503_and_the_rest_runs(
    accounts: Accounts, client: httpx.AsyncClient, clients: ClientFactory
) -> None:
    admin = await accounts.admin()
    created = await client.post(
        "/api/admin/planos", json={"code": f"p-{uuid.uuid4().hex[:6]}", "name": "P"}, headers=admin.bearer
    )
    assert created.status_code == 201
    assert_error(
        await client.post(f"/api/admin/planos/{created.json()['id']}/sync", headers=admin.bearer),
        503,
        "billing_unavailable",
    )
    owner = await accounts.tenant_owner()
    view = await client.get("/api/assinatura", headers=owner.bearer)
    assert view.status_code == 200
    assert (view.json()["plan"], view.json()["subscribed"]) == ("free", False)
    hook = await client.post("/api/webhooks/stripe", content=b"{}", headers={"Stripe-Signature": "t=1,v1=00"})
    assert_error(hook, 503, "webhooks_unavailable")
