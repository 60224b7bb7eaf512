"""The Infra SSH inventory from the console, over a real socket against a real OpenSSH server: a platform
administrator adds a host with the form (its key pinned, its login key sealed: an action then runs on it)
and removes it from its page, both audited via console; the login key is never shown, not even on a
refusal; a tenant owner who is no platform administrator is refused (403), another tenant's host is a 404,
CSRF and Origin are required, and hostile input is a 400 page naming the field."""

from __future__ import annotations

import html
import re

from tesserra_core.domain.identity import Role
from tesserra_core.domain.infra_ssh_audit import AuditEvent
from tesserra_core.domain.paging import PageRequest
from tesserra_core.usecases.infra_ssh_audit import AuditQuery
from tests.drivers.http.conftest import Accounts
from tests.drivers.web.conftest import ConsoleClient
from tests.drivers.web.test_console_infra_ssh import _api_operator, _host, _run, _signed_in, _team
from tests.servers.sshd import Sshd, SshLab
from tests.support import LiveServer

_HOST = re.compile(r"/console/infra/hosts/([A-Za-z0-9_-]+)$")
_ALERT = re.compile(r'<p class="error" role="alert" id="form-error">(.*?)</p>', re.S)


def _fields(sshd: Sshd, name: str, **more: object) -> dict[str, object]:
    return {
        "name": name,
        "address": sshd.address,
        "port": str(sshd.port),
        "login": sshd.login,
        "host_key": sshd.host_key,
        "private_key": sshd.user_key.private.decode(),
        "tier": "dev",
        "actions": ["echo", "touch_file"],
        "labels": "web, eu",
        "max_lease_seconds": "900",
    } | more


async def test_add_a_host_run_on_it_and_remove_it_through_the_pages(
    console: ConsoleClient, server: LiveServer, ssh_lab: SshLab
) -> None:
    team = await _team(server)
    admin = await _signed_in(console, team.asker)
    empty = await admin.get("/console/infra/hosts")
    assert 'id="add-host"' in empty.text
    assert 'name="private_key"' in empty.text

    added = await admin.post("/console/infra/hosts", _fields(ssh_lab.dev, "web-added"))
    assert added.status_code == 303, added.text
    found = _HOST.search(added.headers["location"])
    assert found, added.headers["location"]
    host_id = found.group(1)
    page = await admin.get(added.headers["location"])
    assert "<h1>web-added</h1>" in page.text
    assert "web, eu" in page.text
    assert 'id="run-echo"' in page.text
    assert "PRIVATE KEY" not in page.text  # sealed, never shown
    listed = await admin.get("/console/infra/hosts")
    assert f'href="/console/infra/hosts/{host_id}"' in listed.text

    ran = await _run(admin, host_id, "echo", message="added from the console")
    assert ran.status_code == 303, ran.text  # the pinned host key and the sealed login key work
    assert '<dd id="run-exit">0</dd>' in (await admin.get(ran.headers["location"])).text

    again = await admin.post("/console/infra/hosts", _fields(ssh_lab.dev, "web-added"))
    assert again.status_code == 409, again.status_code  # one name per tenant, as over REST
    assert 'role="alert"' in again.text
    assert "PRIVATE KEY" not in again.text

    await admin.get(f"/console/infra/hosts/{host_id}")
    removed = await admin.post(f"/console/infra/hosts/{host_id}/delete")
    assert removed.status_code == 303, removed.text
    after = await admin.get(removed.headers["location"])
    assert 'id="removed"' in after.text
    assert f'href="/console/infra/hosts/{host_id}"' not in after.text
    assert (await admin.get(f"/console/infra/hosts/{host_id}")).status_code == 404

    ops = await _api_operator(server, team)
    records = (await server.uc.infra_ssh.query_audit(ops, AuditQuery(host_id=host_id), PageRequest(50, 0))).items
    inventory = [(r.event, r.via.value) for r in records if r.event in (AuditEvent.HOST_ADDED, AuditEvent.HOST_REMOVED)]
    assert sorted(inventory) == [(AuditEvent.HOST_ADDED, "console"), (AuditEvent.HOST_REMOVED, "console")]


async def test_refusals_another_tenant_and_csrf(
    console: ConsoleClient, server: LiveServer, accounts: Accounts, ssh_lab: SshLab
) -> None:
    mine, theirs = await _team(server), await _team(server)
    their_host = await _host(server, theirs, ssh_lab.dev2, "theirs-kept")
    me = await _signed_in(console, mine.asker)
    await me.get("/console/infra/hosts")
    gone = await me.post(f"/console/infra/hosts/{their_host}/delete")
    assert gone.status_code == 404
    assert "theirs-kept" not in gone.text

    owner = await _signed_in(console, (await accounts.member(mine.tenant_id, Role.OWNER)).email)
    await owner.get("/console/")
    for refused in (
        await owner.post("/console/infra/hosts", _fields(ssh_lab.dev2, "by-an-owner")),
        await owner.post(f"/console/infra/hosts/{their_host}/delete"),
    ):
        assert refused.status_code == 403
        assert "platform administrator" in refused.text

    await me.get("/console/infra/hosts")
    for forged in (
        await me.post("/console/infra/hosts", _fields(ssh_lab.dev2, "no-token"), csrf=None),
        await me.post("/console/infra/hosts", _fields(ssh_lab.dev2, "elsewhere"), origin="https://evil.example"),
    ):
        assert forged.status_code == 403
    ops = await _api_operator(server, mine)
    assert (await server.uc.infra_ssh.list_hosts(ops, PageRequest(50, 0))).total == 0
    their_ops = await _api_operator(server, theirs)
    assert (await server.uc.infra_ssh.get_host(their_ops, their_host)).name == "theirs-kept"


async def test_hostile_input_is_a_400_page_naming_the_field(
    console: ConsoleClient, server: LiveServer, ssh_lab: SshLab
) -> None:
    team = await _team(server)
    admin = await _signed_in(console, team.asker)
    await admin.get("/console/infra/hosts")
    for changes, expected in (
        ({"name": "Not A Name"}, "name"),
        ({"port": "ssh"}, "port"),
        ({"port": "70000"}, "port"),
        ({"login": "root; id"}, "login"),
        ({"host_key": "not a key at all, honestly"}, "host_key must be an OpenSSH public key"),
        ({"private_key": "short"}, "private_key"),
        ({"tier": "staging"}, "tier"),
        ({"actions": ["rm_rf"]}, "no action named rm_rf"),
        ({"forwards": "nowhere"}, "forwards"),
        ({"max_lease_seconds": "5"}, "max_lease_seconds"),
        ({"address": "<script>alert(1)</script>"}, "address"),
    ):
        refused = await admin.post("/console/infra/hosts", _fields(ssh_lab.dev3, "hostile") | changes)
        assert refused.status_code == 400, (changes, refused.status_code, refused.text[-1500:])
        alert = _ALERT.search(refused.text)
        assert alert, changes
        assert expected in html.unescape(alert.group(1)), (changes, alert.group(1))
        assert "PRIVATE KEY" not in refused.text  # the login key is never typed back
        assert "<script>alert(1)</script>" not in refused.text
    ops = await _api_operator(server, team)
    assert (await server.uc.infra_ssh.list_hosts(ops, PageRequest(50, 0))).total == 0
