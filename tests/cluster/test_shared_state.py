"""What a node once kept in its own data dir, seen the same from every node (issue 15): a project file
uploaded through one node downloads byte for byte through the others (the database storage), runs through
different nodes log in to a host that trusts only one user CA (one CA in the database), a lease revoked
through one node is in the KRL the others serve, and every node lists the same containers (its own from
its runtime, the others' from their records), refusing with 409 an action on another node's."""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Any

import pytest

from tesserra_adapters.ssh.certificates import AsyncsshCertificateAuthority
from tesserra_core.ports.ssh_certificates import UserCa
from tests.cluster.conftest import Owner, client, login, new_owner
from tests.cluster.test_rest_families import TIME, _call_time, _settle
from tests.servers.cluster import ADMIN_EMAIL, ADMIN_PASSWORD, Cluster
from tests.servers.sshd import SshLab, certified_sshd

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("time_server")]

SSH = "/api/infra/ssh"


async def test_a_file_uploaded_through_one_node_downloads_whole_through_the_others(nodes: Cluster) -> None:
    owner = await new_owner(nodes.url)
    content = os.urandom(3 * 1024 * 1024 + 12345)  # several stored chunks, the last one partial
    first, *others = nodes.nodes
    async with client(first.url) as direct:
        project = await direct.post(
            "/api/projetos", json={"name": f"files {uuid.uuid4().hex[:6]}"}, headers=owner.bearer
        )
        assert project.status_code == 201, project.text
        url = f"/api/projetos/{project.json()['id']}/arquivos"
        uploaded = await direct.post(url, params={"filename": "site.tar.gz"}, content=content, headers=owner.bearer)
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["sha256"] == hashlib.sha256(content).hexdigest()
        file_url = f"{url}/{uploaded.json()['id']}"
    for node in others:
        async with client(node.url) as direct:
            down = await direct.get(file_url, headers=owner.bearer)
            assert down.status_code == 200, (node.name, down.text)
            assert down.content == content, node.name
    async with client(others[-1].url) as direct:  # deleted through another node: gone on all
        assert (await direct.delete(file_url, headers=owner.bearer)).status_code == 204
    for node in nodes.nodes:
        async with client(node.url) as direct:
            gone = await direct.get(file_url, headers=owner.bearer)
            assert gone.status_code == 404, (node.name, gone.text)


async def _operators(url: str, count: int = 3) -> list[dict[str, str]]:
    """Admin-tier keys of the platform admin's tenant, each acting for another person (X-User-Id)."""
    async with client(url) as http:
        admin = {"Authorization": f"Bearer {await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)}"}
        headers = []
        for i in range(count):
            body = {"name": f"ops-{uuid.uuid4().hex[:6]}", "scopes": ["tools:read", "tools:write"], "tier": "admin"}
            made = await http.post("/api/auth/keys/generate", json=body, headers=admin)
            assert made.status_code == 201, made.text
            headers.append({"X-API-Key": made.json()["key"], "X-User-Id": f"person{i}-{uuid.uuid4().hex[:6]}@x.test"})
    return headers


async def test_runs_through_every_node_log_in_with_one_ca_and_a_revocation_is_in_every_nodes_krl(
    nodes: Cluster, ssh_lab: SshLab
) -> None:
    team = await _operators(nodes.url)
    asker = team[0]
    keys = set()
    for node in nodes.nodes:
        async with client(node.url) as direct:
            shown = await direct.get(f"{SSH}/user-ca", headers=asker)
            assert shown.status_code == 200, (node.name, shown.text)
            keys.add(shown.json()["public_key"])
    [public_key] = keys  # every node shows the same CA
    empty = await AsyncsshCertificateAuthority().revocation_list(UserCa(private_key=b"", public_key=public_key), [])
    async with certified_sshd(public_key, empty) as lab:  # this host trusts that CA and nothing else
        s = lab.server
        body = {
            "name": f"prod-{uuid.uuid4().hex[:6]}",
            "address": s.address,
            "port": s.port,
            "login": s.login,
            "host_key": s.host_key,
            "private_key": s.user_key.private.decode(),
            "actions": ["uptime", "touch_file"],
            "tier": "prod",
            "certificate_login": True,
        }
        async with client(nodes.url) as http:
            added = await http.post(f"{SSH}/hosts", json=body, headers=asker)
            assert added.status_code == 201, added.text
        host_id = added.json()["id"]
        for node in nodes.nodes:  # each node mints its own certificate for its run: sshd accepts each
            async with client(node.url) as direct:
                ran = await direct.post(f"{SSH}/runs", json={"host_id": host_id, "action": "uptime"}, headers=asker)
                assert ran.status_code == 200, (node.name, ran.text)
                assert ran.json()["state"] == "succeeded", (node.name, ran.json())

        first, second, third = nodes.nodes
        lease = await _approved_lease(first.url, team, host_id)
        async with client(second.url) as direct:
            revoked = await direct.delete(f"{SSH}/admin-session/{lease['id']}", headers=team[1])
            assert revoked.status_code == 200, revoked.text
        for node in (first, third):
            async with client(node.url) as direct:
                krl = await direct.get(f"{SSH}/hosts/{host_id}/krl", headers=asker)
                assert krl.status_code == 200, (node.name, krl.text)
                assert krl.content.startswith(b"SSHKRL")
                assert f"lease-{lease['id']}".encode() in krl.content, node.name


async def _approved_lease(url: str, team: list[dict[str, str]], host_id: str) -> dict[str, Any]:
    asker, *approvers = team
    body = {"host_ids": [host_id], "actions": ["touch_file"], "reason": "cluster", "max_uses": 5}
    async with client(url) as direct:
        lease = await direct.post(f"{SSH}/admin-session", json=body, headers=asker)
        assert lease.status_code == 201, lease.text
        for approver in approvers:
            approved = await direct.post(f"{SSH}/admin-session/{lease.json()['id']}/approve", headers=approver)
            assert approved.status_code == 200, approved.text
    return dict(approved.json())


async def _containers(url: str, owner: Owner) -> list[dict[str, Any]]:
    async with client(url) as direct:
        listed = await direct.get("/api/containers", headers=owner.bearer)
    assert listed.status_code == 200, listed.text
    return list(listed.json()["items"])


async def test_every_node_lists_the_same_containers_and_only_a_containers_node_acts_on_it(nodes: Cluster) -> None:
    owner = await new_owner(nodes.url)
    async with client(nodes.url) as http:
        installed = await http.post(
            f"/api/marketplace/tools/{TIME}/install", json={"config": {"TZ": "UTC"}}, headers=owner.bearer
        )
        assert installed.status_code == 202, installed.text
        installation = (await _settle(http, owner, installed.json()["id"]))["id"]
    for node in nodes.nodes:  # a call on each node starts that node's instance (or uses it)
        async with client(node.url) as direct:
            called = await _call_time(direct, owner, installation)
            assert called.status_code == 200, (node.name, called.text)
    lists = {node.name: await _containers(node.url, owner) for node in nodes.nodes}
    first = lists[nodes.nodes[0].name]
    assert len(first) == len(nodes.nodes)  # one instance per node
    assert {c["installation_id"] for c in first} == {installation}
    assert {c["state"] for c in first} == {"running"}
    assert all(listed == first for listed in lists.values()), lists

    target = first[0]["id"]
    answers = {}
    for node in nodes.nodes:  # every node shows it; only the node that runs it stops it
        async with client(node.url) as direct:
            shown = await direct.get(f"/api/containers/{target}", headers=owner.bearer)
            assert shown.status_code == 200, shown.text
            assert shown.json()["id"] == target
            answers[node.name] = await direct.post(f"/api/containers/{target}/stop", headers=owner.bearer)
    [home] = [name for name, answer in answers.items() if answer.status_code == 200]
    for name, answer in answers.items():
        if name != home:
            assert answer.status_code == 409, answer.text
            assert answer.json()["code"] == "container_on_other_node"
    lists = {node.name: await _containers(node.url, owner) for node in nodes.nodes}
    assert all(listed == lists[home] for listed in lists.values()), lists
    assert next(c for c in lists[home] if c["id"] == target)["state"] == "exited"
    stranger = await new_owner(nodes.url)
    for node in nodes.nodes:
        assert await _containers(node.url, stranger) == []
        async with client(node.url) as direct:
            hidden = await direct.get(f"/api/containers/{target}", headers=stranger.bearer)
            assert hidden.status_code == 404, hidden.text
