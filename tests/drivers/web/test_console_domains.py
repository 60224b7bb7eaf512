"""The domain pages over a real socket: an owner adds a domain, reads the TXT record to publish, checks it
against a real DNS server (failed, then verified), adds and deletes zone records (bad data shown again with a
4xx, never a 5xx); the list keeps its filters and page in the URL; a viewer sees no write controls and the
server refuses the writes anyway; another tenant's domain and records are 404 pages; CSRF is required."""

from __future__ import annotations

import html
import re
import uuid

from tesserra_core.domain.domains import RecordType
from tesserra_core.domain.identity import Role
from tesserra_core.domain.paging import PageRequest
from tesserra_core.usecases.domains import NewDomain
from tesserra_core.usecases.mail import NewMailbox
from tesserra_core.usecases.zones import NewDnsRecord
from tests.contract.domain_entities import domain as a_domain
from tests.drivers.http.conftest import PASSWORD, Accounts
from tests.drivers.web.conftest import ConsoleClient
from tests.drivers.web.test_console_mail import verified_domain
from tests.support import LiveServer

_VALUE = re.compile(r"<dt>Value</dt><dd><code>([^<]+)</code>")


def _name(prefix: str = "web") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}.example.com"


async def _add(console: ConsoleClient, name: str) -> str:
    """Add a domain from the list page's form: the path of its page."""
    await console.get("/console/domains")
    added = await console.post("/console/domains", {"name": name, "default_ttl": "600"})
    assert added.status_code == 303, added.text
    location = added.headers["location"]
    assert location.startswith("/console/domains/")
    return str(location)


async def test_add_a_domain_verify_it_and_edit_its_zone(console: ConsoleClient, accounts: Accounts) -> None:
    from tests.dns_server import loopback_dns

    owner = await accounts.tenant_owner()
    await console.sign_in(owner.email, PASSWORD)
    name = _name()
    path = await _add(console, name.upper())
    page = await console.get(path)
    assert page.status_code == 200
    assert f"<h1>{name}</h1>" in page.text
    assert "pending" in page.text
    assert "<dt>Default TTL</dt><dd>600 s</dd>" in page.text
    found = _VALUE.search(page.text)
    assert found, page.text
    token = html.unescape(found.group(1))

    failed = await console.post(f"{path}/verify")
    assert failed.status_code == 303
    checked = await console.get(failed.headers["location"])
    assert '<dd id="verification">failed' in checked.text
    loopback_dns().publish_txt(f"_tesserra-challenge.{name}", token)
    await console.post(f"{path}/verify")
    verified = await console.get(path)
    assert '<dd id="verification">verified since' in verified.text
    assert "Prove you own it" not in verified.text

    added = await console.post(f"{path}/records", {"name": "www", "type": "A", "data": "203.0.113.7", "ttl": ""})
    assert added.status_code == 303, added.text
    await console.post(f"{path}/records", {"name": "@", "type": "TXT", "data": '"<script>alert(1)</script>"'})
    zone = await console.get(path)
    assert "203.0.113.7" in zone.text
    assert "<script>alert(1)" not in zone.text  # record data is escaped
    assert "&lt;script&gt;alert(1)" in zone.text
    record_id = re.findall(r'<tr id="record-([^"]+)">', zone.text)[0]

    bad = await console.post(f"{path}/records", {"name": "www", "type": "A", "data": "not-an-address"})
    assert bad.status_code in (400, 422), bad.text
    assert 'role="alert"' in bad.text
    assert 'value="not-an-address"' in bad.text  # what was typed is kept
    duplicate = await console.post(f"{path}/records", {"name": "www", "type": "A", "data": "203.0.113.7"})
    assert duplicate.status_code == 409
    unknown = await console.post(f"{path}/records", {"name": "www", "type": "SOA", "data": "x"})
    assert unknown.status_code == 400
    bad_ttl = await console.post(f"{path}/records", {"name": "www", "type": "A", "data": "192.0.2.1", "ttl": "1"})
    assert bad_ttl.status_code == 400
    assert "ttl" in bad_ttl.text

    gone = await console.post(f"{path}/records/{record_id}/delete", headers={"HX-Request": "true"})
    assert gone.status_code == 200
    assert "Deleted" in gone.text
    assert "<html" not in gone.text  # a fragment for htmx
    assert f'id="record-{record_id}"' not in (await console.get(path)).text
    again = await console.post(f"{path}/records/{record_id}/delete")
    assert again.status_code == 404
    assert "Not found" in again.text


async def test_adding_a_taken_or_malformed_name_is_a_4xx_page(console: ConsoleClient, accounts: Accounts) -> None:
    first, second = await accounts.tenant_owner(), await accounts.tenant_owner()
    name = _name("taken")
    await console.sign_in(first.email, PASSWORD)
    await _add(console, name)
    other = ConsoleClient(console.http)
    await other.sign_in(second.email, PASSWORD)
    taken = await other.post("/console/domains", {"name": name})
    assert taken.status_code == 409
    assert "already registered" in taken.text
    assert f'value="{name}"' in taken.text
    for bad_name, ttl in (("not a domain", ""), ("x", ""), ("ok-" + name, "5"), ("ok-" + name, "1e9")):
        refused = await other.post("/console/domains", {"name": bad_name, "default_ttl": ttl})
        assert 400 <= refused.status_code < 500, (bad_name, ttl, refused.status_code)
        assert 'role="alert"' in refused.text
    assert "No domains yet" in (await other.get("/console/domains")).text


async def test_domains_filter_and_page_in_the_url(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    owner = await accounts.tenant_owner()
    actor = await server.uc.authenticate(owner.access)
    tag = uuid.uuid4().hex[:8]
    await server.uc.domains.create(actor, NewDomain(name=f"web0-{tag}.example.com"))
    async with server.uc.ports.uow() as uow:  # past the free plan's one domain, as a subscribed tenant may
        for name in (f"web1-{tag}.example.com", f"api-{tag}.example.com"):
            await uow.domains.add(a_domain(owner.tenant_id, name=name))
        await uow.commit()
    await console.sign_in(owner.email, PASSWORD)
    filtered = await console.get("/console/domains?q=WEB")
    assert filtered.text.count('href="/console/domains/') == 2
    assert f"api-{tag}" not in filtered.text
    assert 'value="WEB"' in filtered.text
    pending = await console.get("/console/domains?status=pending")
    assert pending.text.count('href="/console/domains/') == 3
    assert 'value="pending" selected' in pending.text
    verified = await console.get("/console/domains?status=verified")
    assert "No domain matches" in verified.text
    past = await console.get("/console/domains?page=2&q=web")
    assert "past the last page" in past.text
    assert 'href="/console/domains?page=1&amp;q=web"' in past.text
    for bad in ("/console/domains?status=gone", "/console/domains?page=0", "/console/domains?page=x"):
        response = await console.get(bad)
        assert response.status_code == 400, bad
        assert "<html" in response.text


async def test_a_viewer_sees_no_domain_write_controls_and_writes_are_refused(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    owner = await accounts.tenant_owner()
    actor = await server.uc.authenticate(owner.access)
    domain = await server.uc.domains.create(actor, NewDomain(name=_name("view")))
    record = await server.uc.zones.create_record(
        actor, domain.id, NewDnsRecord(name="www", type=RecordType.A, data="192.0.2.9")
    )
    viewer = await accounts.member(owner.tenant_id, Role.VIEWER)
    await console.sign_in(viewer.email, PASSWORD)
    listed = await console.get("/console/domains")
    assert domain.name in listed.text
    assert "Add a domain" not in listed.text
    assert 'method="post" action="/console/domains"' not in listed.text
    page = await console.get(f"/console/domains/{domain.id}")
    assert page.status_code == 200
    assert "192.0.2.9" in page.text
    assert "Add a record" not in page.text
    assert "Check ownership now" not in page.text
    assert "/delete" not in page.text
    base = f"/console/domains/{domain.id}"
    for path, form in (
        ("/console/domains", {"name": _name("sneaky")}),
        (f"{base}/records", {"name": "evil", "type": "A", "data": "192.0.2.66"}),
        (f"{base}/records/{record.id}/delete", {}),
        (f"{base}/records/{record.id}", {"name": "www", "data": "192.0.2.66", "ttl": ""}),
        (f"{base}/zone", {"zone_file": "evil 300 IN A 192.0.2.66\n"}),
        (f"{base}/delete", {"confirm": "yes"}),
        (f"{base}/verify", {}),
    ):
        refused = await console.post(path, form)
        assert refused.status_code == 403, path
        assert "Not allowed" in refused.text
    after = await console.get(base)
    assert "192.0.2.9" in after.text
    assert "192.0.2.66" not in after.text
    assert "sneaky" not in (await console.get("/console/domains")).text


async def test_another_tenants_domain_and_records_are_404_pages(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    mine, theirs = await accounts.tenant_owner(), await accounts.tenant_owner()
    actor = await server.uc.authenticate(theirs.access)
    domain = await server.uc.domains.create(actor, NewDomain(name=_name("secret")))
    record = await server.uc.zones.create_record(
        actor, domain.id, NewDnsRecord(name="db", type=RecordType.A, data="192.0.2.5")
    )
    await console.sign_in(mine.email, PASSWORD)
    base = f"/console/domains/{domain.id}"
    page = await console.get(base)
    assert page.status_code == 404
    assert "Not found" in page.text
    assert 'href="/console/domains"' in page.text  # the console's navigation is still there
    assert domain.name not in page.text
    for path, form in (
        (f"{base}/records", {"name": "evil", "type": "A", "data": "192.0.2.66"}),
        (f"{base}/records/{record.id}/delete", {}),
        (f"{base}/records/{record.id}", {"name": "db", "data": "192.0.2.66", "ttl": ""}),
        (f"{base}/zone", {"zone_file": "evil 300 IN A 192.0.2.66\n"}),
        (f"{base}/delete", {"confirm": "yes"}),
        (f"{base}/verify", {}),
    ):
        refused = await console.post(path, form)
        assert refused.status_code == 404, path
        assert "Not found" in refused.text
    exported = await console.get(f"{base}/zone")
    assert exported.status_code == 404
    assert "192.0.2.5" not in exported.text
    assert domain.name not in (await console.get("/console/domains")).text
    kept = await server.uc.zones.list_records(actor, domain.id, PageRequest())
    assert [r.data for r in kept.items] == ["192.0.2.5"]


async def test_domain_writes_need_the_csrf_token_and_this_origin(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    owner = await accounts.tenant_owner()
    domain = await server.uc.domains.create(await server.uc.authenticate(owner.access), NewDomain(name=_name("csrf")))
    await console.sign_in(owner.email, PASSWORD)
    await console.get("/console/domains")
    record = {"name": "www", "type": "A", "data": "192.0.2.1"}
    for path, form in (
        ("/console/domains", {"name": _name("forged")}),
        (f"/console/domains/{domain.id}/records", record),
    ):
        assert (await console.post(path, form, csrf=None)).status_code == 403
        assert (await console.post(path, form, csrf="forged")).status_code == 403
        assert (await console.post(path, form, origin="https://evil.example")).status_code == 403
        assert (await console.post(path, form, origin=None)).status_code == 403
    assert "forged" not in (await console.get("/console/domains")).text
    assert "192.0.2.1" not in (await console.get(f"/console/domains/{domain.id}")).text


async def test_the_zone_file_exports_edits_and_imports_all_or_nothing(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    owner = await accounts.tenant_owner()
    actor = await server.uc.authenticate(owner.access)
    domain = await server.uc.domains.create(actor, NewDomain(name=_name("zone")))
    record = await server.uc.zones.create_record(
        actor, domain.id, NewDnsRecord(name="www", type=RecordType.A, data="192.0.2.10")
    )
    await console.sign_in(owner.email, PASSWORD)
    base = f"/console/domains/{domain.id}"

    edited = await console.post(f"{base}/records/{record.id}", {"name": "web", "data": "192.0.2.11", "ttl": "900"})
    assert edited.status_code == 303, edited.text
    kept = (await server.uc.zones.list_records(actor, domain.id, PageRequest())).items
    assert [(r.name, r.data, r.ttl) for r in kept] == [("web", "192.0.2.11", 900)]
    bad_edit = await console.post(f"{base}/records/{record.id}", {"name": "web", "data": "not-an-ip", "ttl": ""})
    assert bad_edit.status_code in (400, 422), bad_edit.text
    assert 'value="not-an-ip"' in bad_edit.text  # what was typed, in the edit form, open again
    assert '<details open>\n      <summary aria-label="Edit A record web">' in bad_edit.text

    exported = await console.get(f"{base}/zone")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/dns")
    assert exported.headers["content-disposition"] == f'attachment; filename="{domain.name}.zone"'
    assert "192.0.2.11" in exported.text
    assert "SOA" in exported.text

    broken = "$TTL 600\napi 300 IN A 192.0.2.20\nmail IN MX not-a-priority\n<b>x</b> IN A 192.0.2.21\n"
    refused = await console.post(f"{base}/zone", {"zone_file": broken})
    assert refused.status_code == 400, refused.text
    assert "line 3" in refused.text  # the first wrong line, counted in the user's text
    assert "&lt;b&gt;x&lt;/b&gt; IN A" in refused.text  # the text kept, escaped, to correct it
    assert "<b>x</b>" not in refused.text
    unchanged = (await server.uc.zones.list_records(actor, domain.id, PageRequest())).items
    assert [r.data for r in unchanged] == ["192.0.2.11"]  # all or nothing

    text = exported.text.replace("192.0.2.11", "192.0.2.12") + "api 300 IN A 192.0.2.20\n"
    upload = await console.http.post(
        f"{base}/zone",
        data={"csrf": console.csrf, "zone_file": "ignored, a file was chosen"},
        files={"upload": ("example.zone", text.encode(), "text/dns")},
        headers=console._headers({"Origin": console.origin}),
    )
    assert upload.status_code == 303, upload.text
    done = await console.get(upload.headers["location"])
    assert "Imported the zone file: 2 records." in done.text
    now = (await server.uc.zones.list_records(actor, domain.id, PageRequest())).items
    assert sorted((r.name, r.data) for r in now) == [("api", "192.0.2.20"), ("web", "192.0.2.12")]

    latin = await console.http.post(
        f"{base}/zone",
        data={"csrf": console.csrf},
        files={"upload": ("latin.zone", "caf\xe9 IN TXT x\n".encode("latin-1"), "text/dns")},
        headers=console._headers({"Origin": console.origin}),
    )
    assert latin.status_code == 400
    assert "not UTF-8" in latin.text


async def test_deleting_a_domain_needs_the_box_ticked_and_no_mail_using_it(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    owner = await accounts.tenant_owner()
    actor = await server.uc.authenticate(owner.access)
    name = await verified_domain(server, owner.tenant_id)  # mailboxes need a verified domain
    domain = next(d for d in (await server.uc.domains.list(actor, PageRequest())).items if d.name == name)
    await console.sign_in(owner.email, PASSWORD)
    base = f"/console/domains/{domain.id}"
    unconfirmed = await console.post(f"{base}/delete", {})
    assert unconfirmed.status_code == 400
    assert "tick the box" in unconfirmed.text
    assert (await console.get(base)).status_code == 200
    mailbox = await server.uc.mail.create_mailbox(
        actor, NewMailbox(address=f"ana@{domain.name}", password="long-enough-pw-1")
    )
    in_use = await console.post(f"{base}/delete", {"confirm": "yes"})
    assert in_use.status_code == 409
    assert "mailboxes or aliases" in in_use.text
    assert (await console.get(base)).status_code == 200
    await server.uc.mail.delete_mailbox(actor, mailbox.id)
    deleted = await console.post(f"{base}/delete", {"confirm": "yes"})
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/console/domains"
    assert (await console.get(base)).status_code == 404
    assert domain.name not in (await console.get("/console/domains")).text
