"""A small HTTP server that answers the Stripe calls localstripe lacks (Prices, Checkout Sessions,
the billing portal) with realistic bodies, and records every request exactly as the stripe SDK
sent it: method, path, form fields and headers. Idempotency-Key is honoured as Stripe honours it
(the same key replays the first answer), so retries can be checked end to end."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn

from tests.support import free_port


@dataclass
class Recorded:
    method: str
    path: str
    form: dict[str, str]
    headers: dict[str, str]


@dataclass
class StripeRecorder:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    _replies: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def _id(self, prefix: str) -> str:
        return f"{prefix}_test{next(self._seq):06d}"

    def _answer(self, method: str, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        now = int(time.time())
        if (method, path) == ("POST", "/v1/customers"):
            return 200, {
                "id": self._id("cus"),
                "object": "customer",
                "created": now,
                "name": form.get("name"),
                "email": form.get("email"),
                "metadata": {"tenant_id": form.get("metadata[tenant_id]")},
            }
        if (method, path) == ("POST", "/v1/products"):
            return 200, {
                "id": self._id("prod"),
                "object": "product",
                "active": form.get("active") == "true",
                "name": form.get("name"),
                "created": now,
                "metadata": {},
            }
        if method == "POST" and path.startswith("/v1/products/"):
            return 200, {"id": path.rsplit("/", 1)[1], "object": "product", "name": form.get("name")}
        if (method, path) == ("POST", "/v1/prices"):
            return 200, {
                "id": self._id("price"),
                "object": "price",
                "active": True,
                "billing_scheme": "per_unit",
                "currency": form["currency"],
                "unit_amount": int(form["unit_amount"]),
                "product": form["product"],
                "recurring": {"interval": form["recurring[interval]"], "interval_count": 1, "usage_type": "licensed"},
                "type": "recurring",
                "created": now,
                "livemode": False,
            }
        if method == "POST" and path.startswith("/v1/prices/"):
            return 200, {"id": path.rsplit("/", 1)[1], "object": "price", "active": form.get("active") == "true"}
        if (method, path) == ("POST", "/v1/checkout/sessions"):
            sid = self._id("cs")
            return 200, {
                "id": sid,
                "object": "checkout.session",
                "mode": "subscription",
                "status": "open",
                "customer": form["customer"],
                "client_reference_id": form.get("client_reference_id"),
                "success_url": form["success_url"],
                "cancel_url": form["cancel_url"],
                "created": now,
                "expires_at": now + 86400,
                "payment_status": "unpaid",
                "livemode": False,
                "url": f"https://checkout.stripe.com/c/pay/{sid}#fidkdWxOYHwnPyd1blpxYHZxWjA0",
            }
        if (method, path) == ("POST", "/v1/billing_portal/sessions"):
            return 200, {
                "id": self._id("bps"),
                "object": "billing_portal.session",
                "customer": form["customer"],
                "return_url": form.get("return_url"),
                "url": "https://billing.stripe.com/p/session/test_YWNjdA",
            }
        if path.startswith("/v1/subscriptions/"):
            sub = self.subscriptions.get(path.rsplit("/", 1)[1])
            if sub is None:
                return 404, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "resource_missing",
                        "message": "No such subscription",
                        "param": "id",
                    }
                }
            if method == "POST" and "cancel_at_period_end" in form:
                sub["cancel_at_period_end"] = form["cancel_at_period_end"] == "true"
            return 200, sub
        return 404, {
            "error": {"type": "invalid_request_error", "message": f"Unrecognized request URL ({method}: {path})"}
        }

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        path = scope["path"]
        self.requests.append(Recorded(scope["method"], path, form, headers))
        key = headers.get("idempotency-key")
        if key is not None and key in self._replies:
            status, reply = self._replies[key]
        else:
            status, reply = self._answer(scope["method"], path, form)
            if key is not None:
                self._replies[key] = (status, reply)
        await asyncio.sleep(0.01)  # a real round trip takes time: lets concurrent callers overlap
        payload = json.dumps(reply).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"request-id", b"req_test")],
            }
        )
        await send({"type": "http.response.body", "body": payload})


@asynccontextmanager
async def stripe_recorder() -> AsyncIterator[StripeRecorder]:
    recorder = StripeRecorder()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(recorder, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    recorder.url = f"http://127.0.0.1:{port}"
    try:
        yield recorder
    finally:
        server.should_exit = True
        await task
