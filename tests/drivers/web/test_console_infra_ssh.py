"""The Infra SSH pages over a real socket against a real OpenSSH server: a platform administrator asks for a
lease from the console, another approves it there (the asker cannot: the use case's rule, shown as its 403
page), the asker runs the action the lease covers (a file appears on the host; exit status and escaped output
on the run's page), and a revocation ends the lease; the audit lists every step (via console) and its chain
verifies. A tenant viewer sees no Infra SSH at all and the server refuses its writes; another tenant's
host and lease are 404 pages; CSRF is required; hostile input is a 4xx page with its message."""

from __future__ import annotations

import asyncio
import html
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tesserra_core.domain.identity import Membership, Principal, Role, Scope, Tier, User
from tesserra_core.domain.infra_ssh_leases import LeaseState
from tesserra_core.domain.paging import PageRequest
from tesserra_core.usecases.api_keys import NewApiKey
from tesserra_core.usecases.infra_ssh_audit import AuditQuery
from tesserra_core.usecases.infra_ssh_forward_views import ForwardState, NewForward
from tesserra_core.usecases.infra_ssh_views import NewHost
from tesserra_core.usecases.operators import NewAdmin
from tests.drivers.http.conftest import PASSWORD, Accounts, sign_in, unique_email
from tests.drivers.web.conftest import ConsoleClient
from tests.servers.sshd import Sshd, SshLab
from tests.support import LiveServer
from tests.unit.infra_ssh_support import ALL_ACTIONS

_LEASE = re.compile(r"/console/infra/leases/([A-Za-z0-9_-]+)$")


class Team:
    """Two platform administrators of one tenant (an asker and an approver), and the tenant's id."""

    def __init__(self, tenant_id: str, asker: str, approver: str) -> None:
        self.tenant_id, self.asker, self.approver = tenant_id, asker, approver


async def _admin_in(server: LiveServer, tenant_id: str) -> str:
    """A new platform administrator holding the admin role in ``tenant_id``: their email."""
    ports, now, email = server.uc.ports, datetime.now(UTC), unique_email("approver")
    user = User(
        id=ports.ids.new(),
        email=email,
        name="approver",
        password_hash=await ports.hasher.hash(PASSWORD),
        is_platform_admin=True,
        active=True,
        failed_logins=0,
        locked_until=None,
        created_at=now,
    )
    async with ports.uow() as uow:
        await uow.users.add(user)
        await uow.memberships.add(Membership(tenant_id=tenant_id, user_id=user.id, role=Role.ADMIN, created_at=now))
        await uow.commit()
    return email


async def _team(server: LiveServer) -> Team:
    email = unique_email("asker")
    tenant = await server.uc.operators.create_admin(NewAdmin(email=email, password=PASSWORD, tenant_name=email[:20]))
    return Team(tenant.id, email, await _admin_in(server, tenant.id))


async def _api_operator(server: LiveServer, team: Team, acting_for: str = "inventory@example.com") -> Principal:
    """An admin-tier key of the team's tenant acting for a person, as the API's callers are."""
    account = await sign_in(server.uc, team.asker, PASSWORD)
    owner = await server.uc.authenticate(account.access)
    new_key = NewApiKey(name="inventory", scopes=[Scope.TOOLS_READ, Scope.TOOLS_WRITE], tier=Tier.ADMIN)
    key = await server.uc.api_keys.generate(owner, new_key)
    return await server.uc.authenticate(key.key, acting_for)


async def _host(server: LiveServer, team: Team, sshd: Sshd, name: str = "web-db", **more: Any) -> str:
    """A host added as it is in practice: over the API's use case, by an admin-tier key acting for a person."""
    ops = await _api_operator(server, team)
    body = NewHost(
        name=name,
        address=sshd.address,
        port=sshd.port,
        login=sshd.login,
        host_key=sshd.host_key,
        private_key=sshd.user_key.private.decode(),
        actions=ALL_ACTIONS,
        **more,
    )
    return (await server.uc.infra_ssh.add_host(ops, body)).id


async def _signed_in(console: ConsoleClient, email: str) -> ConsoleClient:
    other = ConsoleClient(console.http)
    await other.sign_in(email, PASSWORD)
    return other


async def _ask(console: ConsoleClient, host_id: str, **more: str) -> str:
    await console.get(f"/console/infra/leases/new?host_id={host_id}")
    fields = {"host_ids": host_id, "actions": "touch_file", "duration": "600", "max_uses": "2", "reason": "deploy"}
    asked = await console.post("/console/infra/leases", fields | more)
    assert asked.status_code == 303, asked.text
    found = _LEASE.search(asked.headers["location"])
    assert found, asked.headers["location"]
    return found.group(1)


def _marker() -> str:
    return f"/tmp/tesserra-web-{uuid.uuid4().hex[:12]}"


async def _run(console: ConsoleClient, host_id: str, action: str, **parameters: str) -> Any:
    await console.get(f"/console/infra/hosts/{host_id}")
    fields = {"host_id": host_id, "action": action} | {f"param-{k}": v for k, v in parameters.items()}
    return await console.post("/console/infra/runs", fields)


async def test_ask_approve_run_and_revoke_a_lease_through_the_pages(
    console: ConsoleClient, server: LiveServer, ssh_lab: SshLab
) -> None:
    team = await _team(server)
    host_id = await _host(server, team, ssh_lab.dev)
    asker = await _signed_in(console, team.asker)
    approver = await _signed_in(console, team.approver)

    overview = await asker.get("/console/")
    assert 'href="/console/infra/hosts"' in overview.text  # the nav link, for a platform administrator
    hosts = await asker.get("/console/infra/hosts")
    assert hosts.status_code == 200
    assert f'href="/console/infra/hosts/{host_id}"' in hosts.text
    host = await asker.get(f"/console/infra/hosts/{host_id}")
    assert 'id="run-touch_file"' in host.text
    assert "needs an approved lease" in host.text

    path = _marker()
    refused = await _run(asker, host_id, "touch_file", path=path)
    assert refused.status_code == 403
    assert 'role="alert"' in refused.text
    assert "no active lease covers it" in refused.text
    assert not await asyncio.to_thread(Path(path).exists)

    lease_id = await _ask(asker, host_id)
    mine = await asker.get(f"/console/infra/leases/{lease_id}")
    assert '<dd id="lease-state">pending</dd>' in mine.text
    assert 'id="approve"' not in mine.text  # no control the rules would refuse
    assert 'id="revoke"' in mine.text
    own = await asker.post(f"/console/infra/leases/{lease_id}/approve")
    assert own.status_code == 403
    assert "nobody approves their own lease" in own.text

    theirs = await approver.get(f"/console/infra/leases/{lease_id}")
    assert 'id="approve"' in theirs.text
    approved = await approver.post(f"/console/infra/leases/{lease_id}/approve")
    assert approved.status_code == 303, approved.text
    active = await approver.get(approved.headers["location"])
    assert '<dd id="lease-state">active</dd>' in active.text
    assert 'id="lease-clock" data-countdown="' in active.text  # the time it has left, counted down
    assert 'id="approve"' not in active.text
    listed = await asker.get("/console/infra/leases?state=active&who=mine")
    assert f'id="lease-{lease_id}"' in listed.text
    assert f'id="lease-{lease_id}"' not in (await approver.get("/console/infra/leases?who=mine")).text
    assert f'id="lease-{lease_id}"' not in (await asker.get("/console/infra/leases?state=pending")).text

    ran = await _run(asker, host_id, "touch_file", path=path)
    assert ran.status_code == 303, ran.text
    run_page = await asker.get(ran.headers["location"])
    assert '<dd id="run-state">succeeded</dd>' in run_page.text
    assert '<dd id="run-exit">0</dd>' in run_page.text
    assert lease_id in run_page.text
    assert await asyncio.to_thread(Path(path).exists)

    echoed = await _run(asker, host_id, "echo", message="<b>hi</b> $(id)")
    echo_page = await asker.get(echoed.headers["location"])
    assert "&lt;b&gt;hi&lt;/b&gt; $(id)" in echo_page.text  # the host's output, escaped, word for word
    assert "<b>hi</b>" not in echo_page.text
    runs = await asker.get("/console/infra/runs")
    run_id = ran.headers["location"].rsplit("/", 1)[1]
    assert f'href="/console/infra/runs/{run_id}"' in runs.text

    revoked = await approver.post(f"/console/infra/leases/{lease_id}/revoke")
    assert revoked.status_code == 303
    assert '<dd id="lease-state">revoked</dd>' in (await approver.get(revoked.headers["location"])).text
    again = await _run(asker, host_id, "touch_file", path=_marker())
    assert again.status_code == 403
    late = await approver.post(f"/console/infra/leases/{lease_id}/approve")
    assert late.status_code == 409
    assert "not pending" in late.text

    audit = await asker.get(f"/console/infra/audit?lease_id={lease_id}&verify=1")
    assert audit.status_code == 200
    assert 'id="verification">The chain verifies' in audit.text
    rows = re.findall(r'<tr id="audit-\d+">(.*?)</tr>', audit.text, re.S)
    events = [re.findall(r"<td>([^<]*)</td>", row)[2:5] for row in reversed(rows)]
    assert [e[0] for e in events] == [
        "lease_requested",
        "lease_approved",
        "lease_approved",
        "run",
        "lease_revoked",
        "lease_approved",
    ], events
    assert {e[2] for e in events} == {"console"}
    ops = await _api_operator(server, team)
    verified = await server.uc.infra_ssh.verify_audit(ops)
    assert verified.ok
    assert f"{verified.checked} records" in audit.text
    records = (await server.uc.infra_ssh.query_audit(ops, AuditQuery(lease_id=lease_id), PageRequest(50, 0))).items
    assert [r.outcome.value for r in reversed(records)] == ["ok", "denied", "ok", "ok", "ok", "denied"]
    lease = await server.uc.infra_ssh.get_lease(ops, lease_id)
    assert (lease.state, lease.uses) == (LeaseState.REVOKED, 1)


async def test_a_viewer_sees_no_infra_ssh_and_the_server_refuses_its_writes(
    console: ConsoleClient, server: LiveServer, accounts: Accounts, ssh_lab: SshLab
) -> None:
    team = await _team(server)
    host_id = await _host(server, team, ssh_lab.dev2, "dev-viewed")
    asker = await _signed_in(console, team.asker)
    lease_id = await _ask(asker, host_id)
    viewer = await accounts.member(team.tenant_id, Role.VIEWER)
    owner = await accounts.member(team.tenant_id, Role.OWNER)  # an owner, but not a platform administrator
    for account in (viewer, owner):
        other = await _signed_in(console, account.email)
        assert "/console/infra" not in (await other.get("/console/")).text
        for page in ("/console/infra/hosts", f"/console/infra/leases/{lease_id}", "/console/infra/audit"):
            seen = await other.get(page)
            assert seen.status_code == 403, page
            assert 'id="approve"' not in seen.text
            assert "platform administrator" in seen.text
        for action in ("approve", "deny", "revoke"):
            forged = await other.post(f"/console/infra/leases/{lease_id}/{action}")
            assert forged.status_code == 403, action
        run = await _run(other, host_id, "echo", message="by a viewer")
        assert run.status_code == 403
    still = await asker.get(f"/console/infra/leases/{lease_id}")
    assert '<dd id="lease-state">pending</dd>' in still.text


async def test_another_tenants_host_and_lease_are_404_pages(
    console: ConsoleClient, server: LiveServer, ssh_lab: SshLab
) -> None:
    mine, theirs = await _team(server), await _team(server)
    their_host = await _host(server, theirs, ssh_lab.dev3, "theirs")
    my_host = await _host(server, mine, ssh_lab.dev3, "mine")
    their_lease = await _ask(await _signed_in(console, theirs.asker), their_host)
    me = await _signed_in(console, mine.asker)
    for page in (f"/console/infra/hosts/{their_host}", f"/console/infra/leases/{their_lease}", "/console/infra/runs/x"):
        missing = await me.get(page)
        assert missing.status_code == 404, page
        assert "theirs" not in missing.text
    for action in ("approve", "deny", "revoke"):
        assert (await me.post(f"/console/infra/leases/{their_lease}/{action}")).status_code == 404
    assert (await _run(me, their_host, "echo", message="hi")).status_code == 404
    await me.get("/console/infra/leases/new")
    asked = await me.post(
        "/console/infra/leases",
        {"host_ids": their_host, "actions": "touch_file", "duration": "600", "max_uses": "1", "reason": "x"},
    )
    assert asked.status_code == 404
    assert 'role="alert"' in asked.text
    assert f'value="{my_host}"' in asked.text  # the form again, offering this tenant's hosts only
    assert f'value="{their_host}"' not in asked.text


async def test_csrf_and_origin_are_required(console: ConsoleClient, server: LiveServer, ssh_lab: SshLab) -> None:
    team = await _team(server)
    host_id = await _host(server, team, ssh_lab.dev, "dev-csrf")
    lease_id = await _ask(await _signed_in(console, team.asker), host_id)
    approver = await _signed_in(console, team.approver)
    await approver.get(f"/console/infra/leases/{lease_id}")
    no_token = await approver.post(f"/console/infra/leases/{lease_id}/approve", csrf=None)
    wrong_token = await approver.post(f"/console/infra/leases/{lease_id}/approve", csrf="forged")
    elsewhere = await approver.post(f"/console/infra/leases/{lease_id}/approve", origin="https://evil.example")
    for refused in (no_token, wrong_token, elsewhere):
        assert refused.status_code == 403
    page = await approver.get(f"/console/infra/leases/{lease_id}")
    assert '<dd id="lease-state">pending</dd>' in page.text


async def test_hostile_input_is_a_4xx_page_with_its_message(
    console: ConsoleClient, server: LiveServer, ssh_lab: SshLab
) -> None:
    team = await _team(server)
    host_id = await _host(server, team, ssh_lab.dev2, "dev-hostile", max_lease_seconds=900)
    asker = await _signed_in(console, team.asker)
    await asker.get("/console/infra/leases/new")
    base = {"host_ids": host_id, "actions": "touch_file", "duration": "600", "max_uses": "1", "reason": "fix"}
    for changes, expected in (
        ({"duration": "soon"}, "duration_seconds"),
        ({"duration": "3600"}, "at most 900"),
        ({"duration": "1"}, "duration_seconds"),
        ({"max_uses": "-1"}, "max_uses"),
        ({"actions": "rm-rf"}, "no action named rm-rf"),
        ({"actions": "rm -rf /"}, "actions"),
        ({"reason": ""}, "reason"),
        ({"forwards": "nowhere"}, "forwards"),
        ({"forwards": "db.internal:5432"}, "no host of the lease allows forwarding"),
        ({"host_ids": "x" * 500}, "no such host"),
    ):
        refused = await asker.post("/console/infra/leases", base | changes)
        assert 400 <= refused.status_code < 500, (changes, refused.status_code)
        assert 'role="alert"' in refused.text, changes
        assert expected in html.unescape(refused.text), (changes, refused.text[-2000:])
    kept = await asker.post("/console/infra/leases", base | {"duration": "soon", "reason": "<script>x</script>"})
    assert 'value="soon"' in kept.text  # what was typed is kept, and escaped
    assert "<script>x</script>" not in kept.text
    for action, parameters, expected in (
        ("format_disk", {}, "no action named format_disk"),
        ("wait", {"seconds": "forever"}, "seconds"),
        ("wait", {"seconds": "999"}, "seconds"),
        ("touch_file", {"path": "/etc/passwd"}, "path"),
        ("Bad Action", {}, "action"),
    ):
        refused = await _run(asker, host_id, action, **parameters)
        assert refused.status_code == 400, (action, refused.status_code)
        assert expected in html.unescape(refused.text), (action, refused.text[-2000:])
    for page in (
        "/console/infra/leases?state=forever",
        "/console/infra/leases?who=them",
        "/console/infra/audit?outcome=bad",
        "/console/infra/hosts?page=0",
    ):
        assert (await asker.get(page)).status_code == 400, page


async def test_a_forward_opened_under_a_console_lease_is_listed_and_closed_from_the_page(
    console: ConsoleClient, server: LiveServer, ssh_lab: SshLab
) -> None:
    team = await _team(server)
    echo = ssh_lab.echo.destination
    host_id = await _host(server, team, ssh_lab.prod, "dev-forwarding", forwards=[echo])
    asker = await _signed_in(console, team.asker)
    lease_id = await _ask(asker, host_id, forwards=echo)
    approver = await _signed_in(console, team.approver)
    assert (await approver.post(f"/console/infra/leases/{lease_id}/approve")).status_code == 303
    person = (await server.uc.authenticate((await sign_in(server.uc, team.asker, PASSWORD)).access)).user_id
    ops = await _api_operator(server, team, acting_for=person)  # the asker, opening it over the API
    forward = await server.uc.infra_ssh.open_forward(ops, NewForward(host_id=host_id, destination=echo))
    listed = await asker.get("/console/infra/forwards")
    assert f'id="forward-{forward.id}"' in listed.text
    assert f"127.0.0.1:{forward.local_port}" in listed.text
    closed = await asker.post(f"/console/infra/forwards/{forward.id}/close")
    assert closed.status_code == 303
    assert (await server.uc.infra_ssh.get_forward(ops, forward.id)).state is ForwardState.CLOSED
    after = await asker.get("/console/infra/forwards")
    assert f"/console/infra/forwards/{forward.id}/close" not in after.text
    assert (await asker.post(f"/console/infra/forwards/{forward.id}/close")).status_code == 303  # as it is
