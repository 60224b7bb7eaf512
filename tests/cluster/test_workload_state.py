"""A workload that stops by itself, seen the same from every node (issue 15): a sandbox whose command
exits on its own moves to ``error`` with the exit code as its cause, and its container reads ``exited``,
on every node asked through its own address within ``BOUND`` seconds of the exit, whichever node runs
it (``WorkloadWatch`` on the node that runs it). A sandbox that keeps running on another node is never
taken for gone by the node holding the reconciler's lease, whose runtime cannot see it."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from tesserra_core.runners.workload_watch import BOUND
from tests.cluster.conftest import Owner, client, new_owner
from tests.servers.cluster import Cluster

pytestmark = pytest.mark.postgres

RUNS_FOR = 4.0
"""Seconds the short sandbox's command runs before it exits with EXIT."""
EXIT = 3
RECONCILER_CHECK = 12.0
"""Longer than the reconciler's check of running sandboxes (every 20 rounds of 0.5 s)."""


def _command(seconds: float, code: int) -> list[str]:
    return ["/usr/bin/python3", "-c", f"import sys, time; time.sleep({seconds}); sys.exit({code})"]


async def _create(url: str, owner: Owner, command: list[str]) -> tuple[dict[str, Any], float, float]:
    """A sandbox made through ``url``, with when the request was sent and when it was answered."""
    async with client(url) as direct:
        sent = time.monotonic()
        made = await direct.post(
            "/api/sandboxes", json={"name": f"exits {uuid.uuid4().hex[:6]}", "command": command}, headers=owner.bearer
        )
        answered = time.monotonic()
    assert made.status_code == 201, made.text
    assert made.json()["state"] == "running", made.json()
    return made.json(), sent, answered


async def _views(nodes: Cluster, owner: Owner, sandbox_id: str) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Each node's answer for the sandbox and its container, asked through the node's own address."""
    seen = {}
    for node in nodes.nodes:
        async with client(node.url) as direct:
            box = await direct.get(f"/api/sandboxes/{sandbox_id}", headers=owner.bearer)
            listed = await direct.get("/api/containers", params={"kind": "sandbox"}, headers=owner.bearer)
        assert box.status_code == 200, (node.name, box.text)
        assert listed.status_code == 200, (node.name, listed.text)
        [container] = [c for c in listed.json()["items"] if c["sandbox_id"] == sandbox_id]
        seen[node.name] = (box.json(), container)
    return seen


async def _exited_everywhere(nodes: Cluster, owner: Owner, sandbox_id: str, by: float) -> float:
    """When the first round of questions that found every node showing the sandbox in error and its
    container exited began; fails if one begun at ``by`` or later did not."""
    while True:
        asked = time.monotonic()
        seen = await _views(nodes, owner, sandbox_id)
        if all(box["state"] == "error" and c["state"] == "exited" for box, c in seen.values()):
            return asked
        if asked >= by:
            pytest.fail(f"not every node shows sandbox {sandbox_id} stopped by the bound: {seen}")
        await asyncio.sleep(0.1)


async def test_a_sandbox_whose_command_exits_reads_error_with_its_cause_on_every_node(nodes: Cluster) -> None:
    owner, keeper = await new_owner(nodes.url), await new_owner(nodes.url)  # a plan's 3 sandboxes each
    # on each node: one sandbox that keeps running and one whose command exits by itself
    long_lived = [await _create(n.url, keeper, _command(600, 0)) for n in nodes.nodes]
    short_lived = await asyncio.gather(*(_create(n.url, owner, _command(RUNS_FOR, EXIT)) for n in nodes.nodes))
    # watched together: each sandbox's own bound, counted from the latest its command can have exited
    shown = await asyncio.gather(
        *(
            _exited_everywhere(nodes, owner, box["id"], by=answered + RUNS_FOR + BOUND)
            for box, _, answered in short_lived
        )
    )
    for (box, sent, _), when in zip(short_lived, shown, strict=True):
        assert when - sent >= RUNS_FOR - 0.5  # not before it exited
        for node, (view, container) in (await _views(nodes, owner, box["id"])).items():
            last = view["events"][-1]
            assert (last["state"], last["previous"], last["cause"]) == ("error", "running", "error"), (node, last)
            assert last["detail"] == view["state_reason"] == f"its workload exited (code {EXIT})", (node, view)
            assert container["exit_code"] == EXIT, (node, container)

    # past the reconciler's check: the ones that keep running on other nodes than its own are running still
    await asyncio.sleep(max(0.0, long_lived[0][2] + RECONCILER_CHECK - time.monotonic()))
    for box, _, _ in long_lived:
        for node, (view, container) in (await _views(nodes, keeper, box["id"])).items():
            assert (view["state"], container["state"]) == ("running", "running"), (node, view["state_reason"])
    async with client(nodes.url) as http:
        for who, boxes in ((keeper, long_lived), (owner, short_lived)):
            for box, _, _ in boxes:
                assert (await http.delete(f"/api/sandboxes/{box['id']}", headers=who.bearer)).status_code == 200
