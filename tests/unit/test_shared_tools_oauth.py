"""Shared-tool OAuth use cases on the memory adapters, against the in-process authorization server."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest

from tesserra_adapters.memory.oauth import MemoryOAuthServer
from tesserra_adapters.settings import Settings
from tesserra_core.domain.identity import Principal, Role
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict, Forbidden, NotFound, Unprocessable, UpstreamFailed, ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.usecases.oauth_flow import CallbackParams, OAuthStartView
from tests.unit.helpers import FakeClock, Team, add_user, sign_in, store

BASE = "http://tesserra.test"
PROVIDER = {
    "id": "acme-idp",
    "name": "Acme IdP",
    "authorize_url": "https://idp.example.com/authorize?prompt=consent",
    "token_url": "https://idp.example.com/token",
    "userinfo_url": "https://idp.example.com/userinfo",
    "client_id": "tesserra",
    "client_secret": "idp-client-secret",
    "scopes": ["openid", "email"],
}
TOOLS = [
    {"id": "acme-drive", "name": "Acme Drive", "description": "Files", "provider_id": "acme-idp"},
    {"id": "calculator", "name": "Calculator"},
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "shared_tools.json").write_text(json.dumps({"providers": [PROVIDER], "tools": TOOLS}))
    return Settings(data_dir=tmp_path, secret_key="x" * 48)


def idp(uc: UseCases) -> MemoryOAuthServer:
    server = uc.ports.oauth
    assert isinstance(server, MemoryOAuthServer)
    return server


def browser(uc: UseCases, start: OAuthStartView, email: str) -> CallbackParams:
    """The user approves at the provider, which sends the browser back with a code and the state."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(start.authorization_url).query).items()}
    assert query["code_challenge_method"] == "S256"
    code = idp(uc).authorize(query["client_id"], query["redirect_uri"], query["code_challenge"], email, query["scope"])
    return CallbackParams(state=query["state"], code=code)


async def link(uc: UseCases, actor: Principal, email: str = "ana@acme.example") -> None:
    start = await uc.shared_tools.begin_oauth(actor, "acme-drive", BASE)
    await uc.shared_tools.complete_oauth(browser(uc, start, email))


async def test_authorization_url_carries_client_pkce_state_and_callback(uc: UseCases, team: Team) -> None:
    start = await uc.shared_tools.begin_oauth(team.member, "acme-drive", BASE + "/")
    url = urlsplit(start.authorization_url)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://idp.example.com/authorize"
    assert query["prompt"] == "consent"  # the provider's own query survives
    assert query["response_type"] == "code"
    assert query["client_id"] == "tesserra"
    assert query["redirect_uri"] == "http://tesserra.test/api/auth/callback"
    assert query["scope"] == "openid email"
    assert query["state"] == start.state
    assert len(query["code_challenge"]) == 43
    assert "idp-client-secret" not in start.authorization_url


async def test_full_flow_links_the_account_with_sealed_tokens(uc: UseCases, team: Team) -> None:
    start = await uc.shared_tools.begin_oauth(team.member, "acme-drive", BASE)
    result = await uc.shared_tools.complete_oauth(browser(uc, start, "ana@acme.example"))
    assert result.redirect_to is None
    assert result.linked.linked
    assert result.linked.email == "ana@acme.example"
    assert result.linked.scopes == ["openid", "email"]

    status = await uc.shared_tools.oauth_status(team.member, "acme-drive")
    assert (status.linked, status.expired, status.email) == (True, False, "ana@acme.example")
    assert (await uc.shared_tools.user_email(team.member, "acme-drive")).email == "ana@acme.example"

    stored = store(uc).oauth_links[(team.tenant_id, team.member.user_id, "acme-drive")]
    token = await uc.shared_tools.access_token(team.member, "acme-drive")
    assert token in idp(uc).access
    assert token not in stored.access_token_sealed
    assert msgspec.json.encode(stored).find(token.encode()) == -1


async def test_state_is_single_use(uc: UseCases, team: Team) -> None:
    start = await uc.shared_tools.begin_oauth(team.member, "acme-drive", BASE)
    params = browser(uc, start, "ana@acme.example")
    await uc.shared_tools.complete_oauth(params)
    with pytest.raises(ValidationFailed) as replay:
        await uc.shared_tools.complete_oauth(params)
    assert replay.value.code == "oauth_state_used"


async def test_concurrent_replays_link_once(uc: UseCases, team: Team) -> None:
    start = await uc.shared_tools.begin_oauth(team.member, "acme-drive", BASE)
    params = browser(uc, start, "ana@acme.example")
    results = await asyncio.gather(*(uc.shared_tools.complete_oauth(params) for _ in range(5)), return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, ValidationFailed) for r in results if isinstance(r, BaseException))


@pytest.mark.parametrize(
    "forge",
    [
        lambda s: s[:-1] + ("0" if s[-1] != "0" else "1"),  # signature
        lambda s: "0" * 26 + s[26:],  # another id, same signature
        lambda s: s.split(".")[0],  # no signature
        lambda s: s + "00",
        lambda s: "",
        lambda s: "not a state at all",
    ],
)
async def test_tampered_state_fails(uc: UseCases, team: Team, forge: object) -> None:
    start = await uc.shared_tools.begin_oauth(team.member, "acme-drive", BASE)
    params = browser(uc, start, "ana@acme.example")
    with pytest.raises(ValidationFailed) as err:
        await uc.shared_tools.complete_oauth(msgspec.structs.replace(params, state=forge(params.state)))  # type: ignore[operator]
    assert err.value.code == "oauth_state_invalid"
    await uc.shared_tools.complete_oauth(params)  # the genuine state still works


async def test_a_state_signed_for_one_user_cannot_be_rebound(uc: UseCases, team: Team) -> None:
    """Changing the stored owner of a state (a tampered row) breaks its signature."""
    start = await uc.shared_tools.begin_oauth(team.member, "acme-drive", BASE)
    params = browser(uc, start, "ana@acme.example")
    states = store(uc).oauth_states
    state_id = start.state.split(".")[0]
    states[state_id] = msgspec.structs.replace(states[state_id], user_id=team.owner.user_id)
    with pytest.raises(ValidationFailed, match="invalid OAuth state"):
        await uc.shared_tools.complete_oauth(params)


async def test_expired_state_fails(uc: UseCases, team: Team, clock: FakeClock) -> None:
    start = await uc.shared_tools.begin_oauth(team.member, "acme-drive", BASE)
    params = browser(uc, start, "ana@acme.example")
    clock.advance(601)
    with pytest.raises(ValidationFailed) as err:
        await uc.shared_tools.complete_oauth(params)
    assert err.value.code == "oauth_state_expired"


async def test_pkce_mismatch_is_invalid_grant(uc: UseCases, team: Team) -> None:
    start = await uc.shared_tools.begin_oauth(team.member, "acme-drive", BASE)
    query = {k: v[0] for k, v in parse_qs(urlsplit(start.authorization_url).query).items()}
    code = idp(uc).authorize("tesserra", query["redirect_uri"], "A" * 43, "ana@acme.example")  # another challenge
    with pytest.raises(ValidationFailed) as err:
        await uc.shared_tools.complete_oauth(CallbackParams(state=start.state, code=code))
    assert err.value.code == "oauth_invalid_grant"
    assert (await uc.shared_tools.oauth_status(team.member, "acme-drive")).linked is False


async def test_code_of_another_attempt_does_not_complete_this_one(uc: UseCases, team: Team) -> None:
    """A code bound to user A's challenge, delivered with user B's state, fails PKCE."""
    mine = await uc.shared_tools.begin_oauth(team.member, "acme-drive", BASE)
    theirs = await uc.shared_tools.begin_oauth(team.owner, "acme-drive", BASE)
    code = browser(uc, mine, "ana@acme.example").code
    with pytest.raises(ValidationFailed, match="invalid_grant"):
        await uc.shared_tools.complete_oauth(CallbackParams(state=theirs.state, code=code))


async def test_denied_and_provider_errors(uc: UseCases, team: Team) -> None:
    start = await uc.shared_tools.begin_oauth(team.member, "acme-drive", BASE)
    with pytest.raises(Forbidden) as denied:
        await uc.shared_tools.complete_oauth(CallbackParams(state=start.state, error="access_denied"))
    assert denied.value.code == "oauth_access_denied"
    with pytest.raises(ValidationFailed, match="already used"):  # an error answer uses the state up too
        await uc.shared_tools.complete_oauth(CallbackParams(state=start.state, code="x"))

    start = await uc.shared_tools.begin_oauth(team.member, "acme-drive", BASE)
    with pytest.raises(UpstreamFailed) as failed:
        await uc.shared_tools.complete_oauth(CallbackParams(state=start.state, error="server_error<script>"))
    assert "<script>" not in failed.value.message

    start = await uc.shared_tools.begin_oauth(team.member, "acme-drive", BASE)
    with pytest.raises(ValidationFailed) as missing:
        await uc.shared_tools.complete_oauth(CallbackParams(state=start.state))
    assert missing.value.code == "oauth_code_missing"

    start = await uc.shared_tools.begin_oauth(team.member, "acme-drive", BASE)
    params = browser(uc, start, "ana@acme.example")
    idp(uc).failing = True
    with pytest.raises(UpstreamFailed):
        await uc.shared_tools.complete_oauth(params)


async def test_unknown_tool_and_tool_without_oauth(uc: UseCases, team: Team) -> None:
    with pytest.raises(NotFound):
        await uc.shared_tools.begin_oauth(team.member, "nope", BASE)
    with pytest.raises(Unprocessable):
        await uc.shared_tools.begin_oauth(team.member, "calculator", BASE)
    with pytest.raises(NotFound):
        await uc.shared_tools.oauth_status(team.member, "nope")


async def test_viewer_may_read_but_not_link(uc: UseCases, team: Team) -> None:
    _, viewer = await sign_in(uc, await add_user(uc, team.tenant_id, Role.VIEWER), tenant_id=team.tenant_id)
    assert (await uc.shared_tools.oauth_status(viewer, "acme-drive")).linked is False
    with pytest.raises(Forbidden):
        await uc.shared_tools.begin_oauth(viewer, "acme-drive", BASE)


async def test_links_are_per_user(uc: UseCases, team: Team) -> None:
    await link(uc, team.member, "member@acme.example")
    assert (await uc.shared_tools.oauth_status(team.owner, "acme-drive")).linked is False
    with pytest.raises(NotFound):
        await uc.shared_tools.user_email(team.owner, "acme-drive")
    with pytest.raises(Conflict) as not_linked:
        await uc.shared_tools.access_token(team.owner, "acme-drive")
    assert not_linked.value.code == "oauth_not_linked"
    await link(uc, team.owner, "owner@acme.example")
    mine = await uc.shared_tools.access_token(team.member, "acme-drive")
    theirs = await uc.shared_tools.access_token(team.owner, "acme-drive")
    assert mine != theirs
    assert idp(uc).access[mine][0] == "member@acme.example"
    assert idp(uc).access[theirs][0] == "owner@acme.example"


async def test_a_sealed_token_moved_to_another_user_does_not_open(uc: UseCases, team: Team) -> None:
    await link(uc, team.member)
    await link(uc, team.owner, "owner@acme.example")
    links = store(uc).oauth_links
    mine = links[(team.tenant_id, team.member.user_id, "acme-drive")]
    key = (team.tenant_id, team.owner.user_id, "acme-drive")
    links[key] = msgspec.structs.replace(links[key], access_token_sealed=mine.access_token_sealed)
    with pytest.raises(Conflict) as err:
        await uc.shared_tools.access_token(team.owner, "acme-drive")
    assert err.value.code == "oauth_relink_required"


async def test_refresh_on_expiry(uc: UseCases, team: Team, clock: FakeClock) -> None:
    await link(uc, team.member)
    first = await uc.shared_tools.access_token(team.member, "acme-drive")
    assert await uc.shared_tools.access_token(team.member, "acme-drive") == first  # still fresh: no refresh
    requests = idp(uc).token_requests
    clock.advance(3600 - 30)  # inside the refresh margin
    second = await uc.shared_tools.access_token(team.member, "acme-drive")
    assert second != first
    assert idp(uc).token_requests == requests + 1
    status = await uc.shared_tools.oauth_status(team.member, "acme-drive")
    assert status.refreshed_at == clock.now()
    assert status.linked
    assert not status.expired


async def test_refresh_is_single_flight(uc: UseCases, team: Team, clock: FakeClock) -> None:
    await link(uc, team.member)
    requests = idp(uc).token_requests
    clock.advance(7200)
    tokens = await asyncio.gather(*(uc.shared_tools.access_token(team.member, "acme-drive") for _ in range(20)))
    assert len(set(tokens)) == 1
    assert idp(uc).token_requests == requests + 1
    assert len(uc.shared_tools.access_token.flights) == 0


async def test_refused_refresh_asks_for_relink(uc: UseCases, team: Team, clock: FakeClock) -> None:
    await link(uc, team.member)
    idp(uc).revoke_refresh_tokens()
    clock.advance(7200)
    with pytest.raises(Conflict) as err:
        await uc.shared_tools.access_token(team.member, "acme-drive")
    assert err.value.code == "oauth_relink_required"
    status = await uc.shared_tools.oauth_status(team.member, "acme-drive")
    assert (status.linked, status.needs_relink) == (False, True)
    tools = await uc.shared_tools.list(team.member, PageRequest())
    assert [(t.id, t.linked, t.needs_relink) for t in tools.items] == [
        ("acme-drive", False, True),
        ("calculator", False, False),
    ]
    await link(uc, team.member)  # authorizing again heals it
    assert (await uc.shared_tools.oauth_status(team.member, "acme-drive")).linked is True
    assert await uc.shared_tools.access_token(team.member, "acme-drive")


async def test_provider_outage_on_refresh_is_502_and_keeps_the_link(uc: UseCases, team: Team, clock: FakeClock) -> None:
    await link(uc, team.member)
    clock.advance(7200)
    idp(uc).failing = True
    with pytest.raises(UpstreamFailed):
        await uc.shared_tools.access_token(team.member, "acme-drive")
    idp(uc).failing = False
    assert await uc.shared_tools.access_token(team.member, "acme-drive")


async def test_refresh_without_rotation_keeps_the_refresh_token(uc: UseCases, team: Team, clock: FakeClock) -> None:
    idp(uc).rotate_refresh_tokens = False
    await link(uc, team.member)
    for _ in range(3):
        clock.advance(7200)
        assert await uc.shared_tools.access_token(team.member, "acme-drive")


async def test_list_shared_tools_pages(uc: UseCases, team: Team) -> None:
    await link(uc, team.member)
    page = await uc.shared_tools.list(team.member, PageRequest(1, 0))
    assert (page.total, page.limit, [t.id for t in page.items]) == (2, 1, ["acme-drive"])
    assert page.items[0].linked
    assert page.items[0].requires_oauth
    rest = await uc.shared_tools.list(team.member, PageRequest(5, 1))
    assert [(t.id, t.requires_oauth, t.linked) for t in rest.items] == [("calculator", False, False)]


async def test_callback_redirects_to_the_configured_return_url(
    tmp_path: Path, clock: FakeClock, exit_stack: AsyncExitStack
) -> None:
    from tesserra_adapters.bootstrap import build, memory_ports
    from tests.unit.conftest import make_team

    (tmp_path / "shared_tools.json").write_text(json.dumps({"providers": [PROVIDER], "tools": TOOLS}))
    settings = Settings(
        data_dir=tmp_path,
        secret_key="x" * 48,
        oauth_return_url="https://console.example.com/tools?from=oauth",
        public_url="https://tesserra.example.com",
    )
    uc = await build(memory_ports(settings, exit_stack, clock=clock), settings)
    assert await uc.operators.ensure_first_owner("root@tesserra.test", "correct horse battery staple")
    admin = (await sign_in(uc, "root@tesserra.test"))[1]
    team = await make_team(uc, admin)
    start = await uc.shared_tools.begin_oauth(team.member, "acme-drive", "http://spoofed-host.example")
    assert "redirect_uri=https%3A%2F%2Ftesserra.example.com%2Fapi%2Fauth%2Fcallback" in start.authorization_url
    result = await uc.shared_tools.complete_oauth(browser(uc, start, "ana@acme.example"))
    assert result.redirect_to == "https://console.example.com/tools?from=oauth&tool_id=acme-drive&status=linked"


async def test_a_console_started_state_completes_only_in_that_console_session(uc: UseCases, team: Team) -> None:
    start = await uc.shared_tools.begin_oauth(team.member, "acme-drive", BASE, browser="session-key-a")
    query = {k: v[0] for k, v in parse_qs(urlsplit(start.authorization_url).query).items()}
    assert query["redirect_uri"] == "http://tesserra.test/console/oauth/callback"
    params = browser(uc, start, "mallory@acme.example")
    for other in (None, "session-key-b", ""):  # the API's callback, another browser's session
        with pytest.raises(ValidationFailed) as refused:
            await uc.shared_tools.complete_oauth(params, browser=other)
        assert refused.value.code == "oauth_state_invalid"
    assert not (await uc.shared_tools.oauth_status(team.member, "acme-drive")).linked
    done = await uc.shared_tools.complete_oauth(params, browser="session-key-a")  # not used up by the refusals
    assert done.linked.email == "mallory@acme.example"


async def test_an_api_started_state_does_not_complete_in_a_console_session(uc: UseCases, team: Team) -> None:
    start = await uc.shared_tools.begin_oauth(team.member, "acme-drive", BASE)
    params = browser(uc, start, "ana@acme.example")
    with pytest.raises(ValidationFailed) as refused:
        await uc.shared_tools.complete_oauth(params, browser="session-key-a")
    assert refused.value.code == "oauth_state_invalid"
    assert (await uc.shared_tools.complete_oauth(params)).linked.linked
