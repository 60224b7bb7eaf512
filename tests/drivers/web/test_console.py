"""/console over real sockets, as a browser without JavaScript sees it: the session cookie, CSRF and
Origin checks, the CSP, the secret shown once, tenancy (404 pages), a viewer's refused writes, and /api
ignoring the console's cookie. The same pages in a real browser: tests/browser/."""

from __future__ import annotations

import hashlib
import re
from importlib import resources

import httpx

from tesserra_core.domain.identity import Role
from tesserra_core.usecases.projects import NewProject
from tests.drivers.http.conftest import PASSWORD, Accounts
from tests.drivers.web.conftest import COOKIE, ConsoleClient
from tests.support import LiveServer

HTMX_SHA256 = "e209dda5c8235479f3166defc7750e1dbcd5a5c1808b7792fc2e6733768fb447"
"""dist/htmx.min.js of htmx.org 2.0.4 as published on the npm registry."""


def _cookie_attributes(response: httpx.Response) -> set[str]:
    raw = next(v for v in response.headers.get_list("set-cookie") if v.startswith(f"{COOKIE}="))
    return {part.strip().lower() for part in raw.split(";")[1:]}


def test_the_vendored_htmx_is_the_published_file() -> None:
    data = (resources.files("tesserra_web") / "static" / "htmx.min.js").read_bytes()
    assert hashlib.sha256(data).hexdigest() == HTMX_SHA256


async def test_a_page_needs_a_session_and_sends_its_login_page(console: ConsoleClient) -> None:
    response = await console.get("/console/projects?q=a")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=%2Fconsole%2Fprojects%3Fq%3Da"


async def test_session_cookie_flags_and_rotation_at_login(console: ConsoleClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    form = await console.get("/console/login")
    assert _cookie_attributes(form) >= {"httponly", "secure", "path=/", "samesite=lax"}
    assert not any(a.startswith("domain") for a in _cookie_attributes(form))  # __Host-: host-only
    anonymous, csrf = console.session, console.csrf
    signed = await console.post("/console/login", {"email": owner.email, "password": PASSWORD})
    assert signed.status_code == 303
    assert signed.headers["location"] == "/console/"
    assert _cookie_attributes(signed) >= {"httponly", "secure", "path=/", "samesite=lax"}
    assert console.session is not None
    assert console.session != anonymous  # a new id at login
    overview = await console.get("/console/")
    assert overview.status_code == 200
    assert owner.email in overview.text
    assert console.csrf != csrf  # and a new CSRF token
    assert anonymous is not None
    assert anonymous not in overview.text
    assert console.session not in overview.text


async def test_csrf_and_origin_are_checked_on_every_unsafe_request(console: ConsoleClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    await console.get("/console/login")
    credentials = {"email": owner.email, "password": PASSWORD}
    for refused in (
        await console.post("/console/login", credentials, origin="http://evil.example"),
        await console.post("/console/login", credentials, origin=None),
        await console.post("/console/login", credentials, csrf=None),
        await console.post("/console/login", credentials, csrf="forged"),
    ):
        assert refused.status_code == 403, refused.text
        assert COOKIE not in refused.headers.get("set-cookie", "")
    await console.sign_in(owner.email, PASSWORD)
    created = await console.post("/console/keys", {"name": "from-evil"}, origin="http://127.0.0.1.evil.example")
    assert created.status_code == 403
    port = console.origin.rsplit(":", 1)[1]
    other_port = await console.post("/console/keys", {"name": "from-evil"}, origin=f"http://127.0.0.1:{int(port) + 1}")
    assert other_port.status_code == 403
    keys = await console.get("/console/keys")
    assert "from-evil" not in keys.text
    # htmx sends the token in a header instead of the form
    headers = console._headers({"Origin": console.origin, "X-CSRF-Token": console.csrf, "HX-Request": "true"})
    by_header = await console.http.post("/console/keys", data={"name": "via-header"}, headers=headers)
    assert by_header.status_code == 303, by_header.text


async def test_every_page_has_a_nonce_csp_without_unsafe_sources(console: ConsoleClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    await console.sign_in(owner.email, PASSWORD)
    nonces = set()
    for path in ("/console/", "/console/keys", "/console/projects", "/console/sessions", "/console/nowhere"):
        page = await console.get(path)
        csp = page.headers["content-security-policy"]
        assert "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp
        assert "http" not in csp
        nonce = re.search(r"'nonce-([^']+)'", csp)
        assert nonce is not None
        assert f'nonce="{nonce.group(1)}"' in page.text
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-frame-options"] == "DENY"
        nonces.add(nonce.group(1))
        assert "<script>" not in page.text
        assert " on" + "click=" not in page.text
    assert len(nonces) == 5  # one per response


async def test_a_console_cookie_is_no_credential_for_api_or_mcp(console: ConsoleClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    await console.sign_in(owner.email, PASSWORD)
    cookie = {"Cookie": f"{COOKIE}={console.session}"}
    me = await console.http.get("/api/auth/me", headers=cookie)
    assert me.status_code == 401
    assert me.json()["code"] == "missing_credentials"
    mcp = await console.http.post("/mcp/", headers={**cookie, "Content-Type": "application/json"}, content=b"{}")
    assert mcp.status_code == 401


async def test_the_secret_is_shown_once_on_a_no_store_page(console: ConsoleClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    await console.sign_in(owner.email, PASSWORD)
    created = await console.post("/console/keys", {"name": "ci", "scopes": "projects:read", "tier": "basic"})
    assert created.status_code == 303
    shown = await console.get(created.headers["location"])
    secret = re.search(r'<code id="secret">(tessera_[A-Za-z0-9]+_[^<]+)</code>', shown.text)
    assert secret is not None
    assert shown.headers["cache-control"] == "no-store"
    assert 'hx-history="false"' in shown.text
    assert "<YOUR_TESSERRA_API_KEY>" not in shown.text
    assert "/mcp" in shown.text
    api = await console.http.get("/api/projetos", headers={"Authorization": f"Bearer {secret.group(1)}"})
    assert api.status_code == 200, api.text  # the key works, with the scope it was given
    again = await console.get(created.headers["location"])
    assert again.status_code == 200
    assert secret.group(1) not in again.text
    assert "This secret is gone" in again.text


async def test_scopes_beyond_the_creators_are_neither_offered_nor_granted(
    console: ConsoleClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    member = await accounts.member(owner.tenant_id, Role.MEMBER)
    await console.sign_in(member.email, PASSWORD)
    page = await console.get("/console/keys")
    offered = set(re.findall(r'name="scopes" value="([^"]+)"', page.text))
    actor = await console.http.get("/api/auth/me", headers={"Authorization": f"Bearer {member.access}"})
    assert offered == set(actor.json()["scopes"])
    assert "admin" not in offered
    assert 'value="admin"' not in page.text
    forged = await console.post("/console/keys", {"name": "escalate", "scopes": "admin"})
    assert forged.status_code == 403
    assert "do not hold" in forged.text


async def test_a_viewer_sees_no_write_controls_and_writes_are_refused(
    console: ConsoleClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    viewer = await accounts.member(owner.tenant_id, Role.VIEWER)
    await console.sign_in(viewer.email, PASSWORD)
    page = await console.get("/console/projects")
    assert page.status_code == 200
    assert "Create a project" not in page.text
    assert 'method="post" action="/console/projects"' not in page.text
    refused = await console.post("/console/projects", {"name": "sneaky"})
    assert refused.status_code == 403
    assert "<html" in refused.text
    assert "Not allowed" in refused.text
    assert "sneaky" not in (await console.get("/console/projects")).text
    keys = await console.get("/console/keys")  # a viewer may mint keys of their own read scopes, no more
    assert set(re.findall(r'name="scopes" value="([^"]+)"', keys.text)) <= {
        "profile:read",
        "tenant:read",
        "projects:read",
        "domains:read",
        "tools:read",
        "status:read",
        "chat:read",
        "keys:read",
        "keys:write",
        "chat:write",
    }
    assert 'value="standard"' not in keys.text


async def test_another_tenants_project_is_a_404_page(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    mine, theirs = await accounts.tenant_owner(), await accounts.tenant_owner()
    actor = await server.uc.authenticate(theirs.access)
    project = await server.uc.projects.create(actor, NewProject(name="secret-plans"))
    await console.sign_in(mine.email, PASSWORD)
    page = await console.get(f"/console/projects/{project.id}")
    assert page.status_code == 404
    assert "Not found" in page.text
    assert 'href="/console/projects"' in page.text  # the console's navigation is still there
    assert "secret-plans" not in page.text
    listed = await console.get("/console/projects")
    assert "secret-plans" not in listed.text
    assert "No projects yet" in listed.text


async def test_projects_filter_and_page_in_the_url(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    owner = await accounts.tenant_owner()
    actor = await server.uc.authenticate(owner.access)
    for n in range(2):
        await server.uc.projects.create(actor, NewProject(name=f"web-{n}"))
    await server.uc.projects.create(actor, NewProject(name="api-0"))
    await console.sign_in(owner.email, PASSWORD)
    filtered = await console.get("/console/projects?q=web")
    assert filtered.text.count('href="/console/projects/') == 2
    assert "api-0" not in filtered.text
    assert 'value="web"' in filtered.text
    none = await console.get("/console/projects?q=zzz")
    assert "No project matches" in none.text
    past = await console.get("/console/projects?page=2&q=web")
    assert past.status_code == 200
    assert "past the last page" in past.text
    assert 'href="/console/projects?page=1&amp;q=web"' in past.text
    bad = await console.get("/console/projects?page=0")
    assert bad.status_code == 400
    assert "page must be" in bad.text


async def test_revoking_a_session_signs_that_browser_out(clients, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    first, second = ConsoleClient(clients()), ConsoleClient(clients())
    await first.sign_in(owner.email, PASSWORD)
    await second.sign_in(owner.email, PASSWORD)
    listing = await first.get("/console/sessions")
    ids = re.findall(r'action="/console/sessions/([0-9a-f]+)/revoke"', listing.text)
    assert len(ids) == 2
    other = next(
        i
        for i in ids
        if f'/console/sessions/{i}/revoke"' in listing.text
        and "(this one)" not in listing.text.split(f"/console/sessions/{i}/revoke")[0].rsplit("<tr>", 1)[-1]
    )
    revoked = await first.post(f"/console/sessions/{other}/revoke")
    assert revoked.status_code == 303
    assert (await second.get("/console/")).status_code == 303  # signed out
    assert (await first.get("/console/")).status_code == 200
    logout = await first.post("/console/logout")
    assert logout.status_code == 303
    assert (await first.get("/console/")).status_code == 303


async def test_changing_the_password_needs_the_current_one(console: ConsoleClient, accounts: Accounts, clients) -> None:
    owner = await accounts.tenant_owner()
    await console.sign_in(owner.email, PASSWORD)
    await console.get("/console/password")
    wrong = await console.post("/console/password", {"current": "not-it-at-all", "new": "a-new-password-1"})
    assert wrong.status_code == 400
    assert "current password is wrong" in wrong.text
    short = await console.post("/console/password", {"current": PASSWORD, "new": "short"})
    assert short.status_code == 400
    before = console.session
    changed = await console.post("/console/password", {"current": PASSWORD, "new": "a-new-password-1"})
    assert changed.status_code == 200
    assert console.session != before  # rotated
    assert 'id="password-changed"' in changed.text
    login = clients()
    old = await login.post("/api/auth/login", json={"email": owner.email, "password": PASSWORD})
    assert old.status_code == 401
    new = await login.post("/api/auth/login", json={"email": owner.email, "password": "a-new-password-1"})
    assert new.status_code == 200
    # the REST twin: the same use case, and an API key may not
    bearer = {"Authorization": f"Bearer {new.json()['access_token']}"}
    body = {"current_password": "a-new-password-1", "new_password": "another-password-2"}
    assert (await login.post("/api/auth/password", json=body, headers=bearer)).status_code == 204
    key = await login.post("/api/auth/keys/generate", json={"name": "k"}, headers=bearer)
    by_key = {"Authorization": f"Bearer {key.json()['key']}"}
    body = {"current_password": "another-password-2", "new_password": "third-password-3"}
    refused = await login.post("/api/auth/password", json=body, headers=by_key)
    assert refused.status_code == 422
    assert refused.json()["code"] == "not_a_session"


async def test_bad_input_is_a_4xx_page_never_a_5xx(console: ConsoleClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    await console.sign_in(owner.email, PASSWORD)
    await console.get("/console/keys")
    bad_keys: list[dict[str, object]] = [
        {"name": ""},
        {"name": "x" * 5000},
        {"name": "nul\x00byte"},
        {"name": "k", "scopes": "no:such"},
        {"name": "k", "tier": "emperor"},
        {"name": "k", "expires": "2001-01-01"},
        {"name": "k", "expires": "soon"},
        {"name": "k", "expires": "9999-99-99"},
    ]
    for fields in bad_keys:
        response = await console.post("/console/keys", fields)
        assert 400 <= response.status_code < 500, (fields, response.status_code, response.text[:300])
        assert "<html" in response.text
    for path in (
        "/console/projects?page=abc",
        "/console/projects?status=gone",
        "/console/projects?page=99999999999",
        "/console/projects/%ff%fe",
    ):
        response = await console.get(path)
        assert 400 <= response.status_code < 500, (path, response.status_code)
    bad_projects: list[dict[str, object]] = [
        {"name": ""},
        {"name": "p" * 500},
        {"name": "ok", "description": "d" * 100_000},
    ]
    for project in bad_projects:
        response = await console.post("/console/projects", project)
        assert 400 <= response.status_code < 500, (project, response.status_code)
    huge = await console.post("/console/password", {"current": "x" * 200_000, "new": "y"})
    assert huge.status_code == 413


async def test_a_signed_out_htmx_request_is_sent_to_the_login_page(console: ConsoleClient) -> None:
    await console.get("/console/login")
    headers = console._headers({"Origin": console.origin, "X-CSRF-Token": console.csrf, "HX-Request": "true"})
    response = await console.http.post("/console/keys/some-key/revoke", headers=headers)
    assert response.status_code == 401
    assert response.headers["hx-redirect"] == "/console/login?next=%2Fconsole%2Fkeys%2Fsome-key%2Frevoke"
    other = await console.http.request("PUT", "/console/keys", headers=headers)
    assert other.status_code == 405
    assert "<html" in other.text


async def test_anonymous_sessions_one_address_can_open_are_bounded(clients, server: LiveServer) -> None:
    """Every login page a cookieless client asks for opens a session row: one address gets the
    ``console_session`` rule's number of them (concurrently too), then a 429 page and no row; a browser
    that keeps its cookie goes on using the session it has, and another address is not affected."""
    import asyncio

    from tesserra_core.usecases.guards import DEFAULT_RULES

    limit = DEFAULT_RULES["console_session"].limit
    flood = clients()
    keeper = ConsoleClient(flood)  # same address, keeps its cookie
    assert (await keeper.get("/console/login")).status_code == 200
    answers = await asyncio.gather(*(flood.get("/console/login") for _ in range(limit + 10)))
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == limit - 1  # the keeper's first page took one
    assert statuses.count(429) == 11
    refused = next(a for a in answers if a.status_code == 429)
    assert "set-cookie" not in refused.headers
    assert "Slow down" in refused.text
    again = await keeper.get("/console/login")
    assert again.status_code == 200  # its session already exists: nothing new is opened
    assert (await ConsoleClient(clients()).get("/console/login")).status_code == 200


def _nav_groups(page: httpx.Response) -> dict[str, list[str]]:
    """The console nav's groups by name: each a list labelled by its name, holding its links' paths."""
    nav = re.search(r'<nav aria-label="Console">(.*?)</nav>', page.text, re.S)
    assert nav, page.text
    groups = {}
    for _key, name, body in re.findall(
        r'<span class="nav-group-name" id="nav-([a-z]+)">([^<]+)</span>\s*<ul aria-labelledby="nav-\1">(.*?)</ul>',
        nav.group(1),
        re.S,
    ):
        groups[name] = re.findall(r'<li><a href="([^"]+)"', body)
    assert sum(len(links) for links in groups.values()) == nav.group(1).count("<a "), nav.group(1)
    return groups


async def test_the_nav_is_grouped_and_shows_only_what_the_role_may_use(
    console: ConsoleClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    await console.sign_in(owner.email, PASSWORD)
    page = await console.get("/console/sandboxes")
    assert _nav_groups(page) == {
        "Project": ["/console/", "/console/projects", "/console/domains", "/console/mailboxes"],
        "Tools": ["/console/marketplace", "/console/chat", "/console/agents"],
        "Runtime": ["/console/sandboxes", "/console/containers"],
        "Account": [
            "/console/keys",
            "/console/members",
            "/console/billing",
            "/console/tenants",
            "/console/sessions",
            "/console/password",
        ],
    }  # no Infra, no Admin: an owner who is no platform administrator
    assert '<a href="/console/sandboxes" aria-current="page">' in page.text
    assert page.text.count('aria-current="page"') == 1

    viewer = ConsoleClient(console.http)
    await viewer.sign_in((await accounts.member(owner.tenant_id, Role.VIEWER)).email, PASSWORD)
    seen = _nav_groups(await viewer.get("/console/"))
    assert "Infra" not in seen
    assert "Admin" not in seen
    assert "/console/billing" not in seen["Account"]  # billing:read is not a viewer's
    assert "/console/sessions" in seen["Account"]
