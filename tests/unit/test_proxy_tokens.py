"""Sandbox proxy tokens (HMAC-SHA256, the adapter both adapter sets use): what is signed comes back
whole; any change to the payload or the signature, another key, another prefix, junk or an oversized
token is ``invalid_proxy_token``, with nothing of the claims revealed."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from tesserra_adapters.security import HmacProxyTokens
from tesserra_core.errors import Unauthenticated
from tesserra_core.ports.security import ProxyClaims

CLAIMS = ProxyClaims(
    token_id="01jtok",
    sandbox_id="01jbox",
    tenant_id="01jten",
    user_id="01jusr",
    generation=3,
    epoch=2,
    ports=(8000, 8001),
    expires_at=datetime(2030, 1, 1, tzinfo=UTC),
)
codec = HmacProxyTokens(b"k" * 32)


def _payload(token: str) -> list[object]:
    """The signed claims, in order: token id, sandbox, tenant, user, generation, epoch, ports, expiry."""
    body = token[len("tsp_") :].split(".")[0]
    return list(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))


def _with(token: str, at: int, value: object) -> str:
    claims = _payload(token)
    claims[at] = value
    body = json.dumps(claims).encode()
    return "tsp_" + base64.urlsafe_b64encode(body).rstrip(b"=").decode() + "." + token.split(".")[1]


def test_a_token_carries_its_claims() -> None:
    token = codec.issue(CLAIMS)
    assert token.startswith("tsp_")
    assert codec.decode(token) == CLAIMS


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: _with(t, 1, "01jother"),
        lambda t: _with(t, 4, 4),
        lambda t: _with(t, 6, [8000, 8001, 22]),
        lambda t: _with(t, 7, 4102444800 + 10**6),
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: HmacProxyTokens(b"o" * 32).issue(CLAIMS),
        lambda t: t.replace("tsp_", "tsx_", 1),
        lambda t: t + "." + t,
        lambda t: "tsp_" + "A" * 3000,
        lambda t: "tsp_%%%.$$$",
        lambda t: "",
    ],
)
def test_anything_else_is_invalid(forge: object) -> None:
    forged = forge(codec.issue(CLAIMS))  # type: ignore[operator]
    with pytest.raises(Unauthenticated) as refused:
        codec.decode(forged)
    assert refused.value.code == "invalid_proxy_token"
