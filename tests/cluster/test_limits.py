"""Rate limits and the login lockout hold across the nodes behind HAProxy (issue 15): their counters
live in the shared Redis, so attempts spread over three nodes count once, and the balancer's
X-Forwarded-For (a trusted proxy) names the client whose address the per-IP limit counts."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.cluster.conftest import client, fresh_address, new_owner, node_of
from tests.servers.cluster import Cluster

pytestmark = pytest.mark.postgres

WRONG = "not the password at all"


def _outcome(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, str(answer.json().get("code", ""))


async def test_a_lockout_reached_by_spreading_guesses_over_the_nodes_holds_on_every_node(nodes: Cluster) -> None:
    owner = await new_owner(nodes.url)
    outcomes, answered = [], set()
    for _ in range(8):  # each guess from an address of its own: the per-IP limit never stops one
        async with client(nodes.url) as http:
            guess = await http.post("/api/auth/login", json={"email": owner.email, "password": WRONG})
        outcomes.append(_outcome(guess))
        answered.add(node_of(guess))
    assert answered == {n.name for n in nodes.nodes}
    assert outcomes == [(401, "invalid_login")] * 5 + [(429, "account_locked")] * 3, outcomes
    for node in nodes.nodes:  # the right password is locked out too, on every node
        async with client(node.url) as direct:
            right = await direct.post("/api/auth/login", json={"email": owner.email, "password": owner.password})
        assert _outcome(right) == (429, "account_locked"), (node.name, right.text)
        assert "access_token" not in right.text


async def test_the_per_address_login_limit_counts_one_client_on_all_nodes(nodes: Cluster) -> None:
    address = fresh_address()
    outcomes, answered = [], set()
    for _ in range(8):  # another unknown email each time: only the per-address limit can stop them
        async with client(nodes.url, address=address) as http:
            attempt = await http.post(
                "/api/auth/login", json={"email": f"nobody-{uuid.uuid4().hex[:8]}@example.com", "password": WRONG}
            )
        outcomes.append(_outcome(attempt))
        answered.add(node_of(attempt))
    assert answered == {n.name for n in nodes.nodes}
    assert outcomes == [(401, "invalid_login")] * 5 + [(429, "rate_limited")] * 3, outcomes
    async with client(nodes.url) as elsewhere:  # another client's address is not limited by it
        other = await elsewhere.post("/api/auth/login", json={"email": "nobody@example.com", "password": WRONG})
    assert _outcome(other) == (401, "invalid_login")


async def test_a_tokens_limit_is_shared_by_the_nodes(nodes: Cluster) -> None:
    owner = await new_owner(nodes.url)
    statuses: dict[str, list[int]] = {}
    async with client(nodes.url) as http:
        for _ in range(66):  # /api/auth/me: 60 a minute per token
            me = await http.get("/api/auth/me", headers=owner.bearer)
            statuses.setdefault(node_of(me), []).append(me.status_code)
    every = [status for answers in statuses.values() for status in answers]
    assert set(statuses) == {n.name for n in nodes.nodes}
    assert every.count(200) == 60, statuses
    assert every.count(429) == 6, statuses
