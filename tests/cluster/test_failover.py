"""One of three nodes leaves under a bounded load through HAProxy (issue 15).

- SIGKILL: the only requests that fail are ones HAProxy had already sent to the killed node and may
  not send again (not idempotent: a PATCH or POST it may have run); a GET in flight there is retried on
  another node, and a connection refused is redispatched. HAProxy's log says, for each failure,
  which node it went to.
- SIGTERM: the node turns /ready off, HAProxy's checks take it out, then it stops accepting and
  finishes what it has: no request fails at all, and the node exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.cluster.conftest import client, new_owner, node_of
from tests.servers.cluster import Cluster, cluster

pytestmark = pytest.mark.postgres

CLIENTS = 6
"""Concurrent clients, each with one request in flight at a time: the most that can be cut."""


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with cluster(tmp_path, TESSERRA_RATE_LIMIT_SCALE="1000", TESSERRA_DRAIN_DELAY="3") as made:
        yield made


@dataclass
class Load:
    ok: list[tuple[float, str]] = field(default_factory=list)
    """(when, node) of each answered request."""
    failed: list[tuple[str, int | str, str | None, float]] = field(default_factory=list)
    """(method, status or exception, the balancer's request id, when it was sent) of each failure."""
    stop: asyncio.Event = field(default_factory=asyncio.Event)


async def _client_loop(url: str, bearer: dict[str, str], project: str, load: Load) -> None:
    async with client(url) as http:
        n = 0
        while not load.stop.is_set():
            n += 1
            method = "PATCH" if n % 3 == 0 else "GET"
            sent = time.monotonic()
            try:
                if method == "PATCH":  # a write HAProxy may not send twice
                    answer = await http.patch(project, json={"name": f"p {uuid.uuid4().hex[:10]}"}, headers=bearer)
                    good = answer.status_code == 200
                else:
                    answer = await http.get("/api/auth/me" if n % 2 else "/api/projetos", headers=bearer)
                    good = answer.status_code == 200
            except httpx.HTTPError as exc:
                load.failed.append((method, type(exc).__name__, None, sent))
                continue
            if good:
                load.ok.append((time.monotonic(), node_of(answer)))
            else:
                load.failed.append((method, answer.status_code, answer.headers.get("x-request-id"), sent))


@contextlib.asynccontextmanager
async def _under_load(nodes: Cluster) -> AsyncIterator[Load]:
    owner = await new_owner(nodes.url)
    async with client(nodes.url) as http:
        made = await http.post("/api/projetos", json={"name": "under load"}, headers=owner.bearer)
        assert made.status_code == 201, made.text
    project = f"/api/projetos/{made.json()['id']}"
    load = Load()
    tasks = [asyncio.create_task(_client_loop(nodes.url, owner.bearer, project, load)) for _ in range(CLIENTS)]
    try:
        deadline = time.monotonic() + 60
        while len(load.ok) < 60:  # the load is on every node before anything happens
            assert time.monotonic() < deadline, len(load.ok)
            assert not load.failed, load.failed
            await asyncio.sleep(0.05)
        yield load
    finally:
        load.stop.set()
        await asyncio.gather(*tasks)


async def _more(load: Load, requests: int, within: float = 60) -> None:
    target = len(load.ok) + requests
    deadline = time.monotonic() + within
    while len(load.ok) < target:
        assert time.monotonic() < deadline, f"the load stalled at {len(load.ok)} answers"
        await asyncio.sleep(0.05)


async def test_killing_one_of_three_fails_only_requests_already_sent_to_it(nodes: Cluster) -> None:
    victim = nodes.node("n3")
    async with _under_load(nodes) as load:
        victim.signal(signal.SIGKILL)
        killed = time.monotonic()
        await asyncio.to_thread(victim.process.wait, 10)  # type: ignore[union-attr]
        await asyncio.sleep(3)
        await _more(load, 60)
    after = [node for when, node in load.ok if when > killed + 2]
    assert after, "no answer after the kill"
    assert "n3" not in after, after  # taken out by its checks
    assert {node for _, node in load.ok} == {"n1", "n2", "n3"}
    assert len(load.failed) <= CLIENTS, load.failed
    deadline = time.monotonic() + 10  # HAProxy logs a request when its stream ends
    while True:
        by_id = {line["id"]: line for line in nodes.balancer_log()}
        cut_on_n3 = [  # what HAProxy saw the killed node drop: a write it had sent there, unanswered
            line
            for line in by_id.values()
            if line["node"] == "n3" and line["state"].startswith("S") and line["method"] != "GET"
        ]
        logged = [failure for failure in load.failed if failure[2] is not None]
        if all(failure[2] in by_id for failure in logged) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    for method, status, request_id, sent in load.failed:
        if request_id is None:
            # HAProxy wrote it on a kept-alive connection to the node, which was or had just been killed
            # (before HAProxy's checks, 2 failed ones within 1.25 s, took the node out): it closes the client's
            # kept-alive connection unanswered and logs nothing, so a client may send it again as after any
            # idle close. Rarely a GET too (seen once in a CI dry run, sent at the kill): the bound is
            # that no request fails that the balancer had not yet sent to the node, whatever its method
            assert status == "RemoteProtocolError", load.failed
            assert sent < killed + 1.5, (sent - killed, load.failed)
            continue
        assert method == "PATCH", load.failed  # a GET HAProxy saw the dead node drop is retried elsewhere
        assert status == 502, load.failed
        assert by_id[request_id] in cut_on_n3, (by_id[request_id], load.failed)
    retried = [line for line in by_id.values() if line["retries"] != "0" and line["status"] in ("200", "201")]
    print(f"kill: {len(load.ok)} answered, {len(load.failed)} failed (writes cut on n3), {len(retried)} retried")


async def test_a_sigterm_drain_takes_a_node_out_with_no_failed_request(nodes: Cluster) -> None:
    leaving = nodes.node("n2")
    async with _under_load(nodes) as load:
        leaving.signal(signal.SIGTERM)
        signalled = time.monotonic()
        code = await asyncio.to_thread(_exit_code, leaving.process, 60)  # type: ignore[arg-type]
        assert code == 0, leaving.log.read_text()
        await asyncio.sleep(max(0.0, signalled + 5 - time.monotonic()))
        await _more(load, 60)
    assert load.failed == [], load.failed
    assert any(node == "n2" for when, node in load.ok if when < signalled)
    assert not [when for when, node in load.ok if node == "n2" and when > signalled + 4], "served after its drain"
    assert {node for when, node in load.ok if when > signalled + 4} == {"n1", "n3"}


def _exit_code(process: subprocess.Popen[bytes], seconds: float) -> int | None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        return process.wait(seconds)
    return None
