"""axe-core (as axe-playwright-python ships it) on every console page, in light and dark themes and at
320 px: no serious or critical violation. It runs in a context that bypasses the CSP, which forbids the
script it injects; the other browser tests keep the CSP on. Each page checked is also kept as a screenshot
in ``SCREENSHOTS`` (test-artifacts/console-screenshots, or TESSERRA_TEST_SCREENSHOTS)."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tesserra_adapters.memory.models import call, say
from tesserra_core.domain.domains import RecordType
from tesserra_core.usecases.agents import NewAgent
from tesserra_core.usecases.conversations import NewConversation, NewMessage
from tesserra_core.usecases.domains import NewDomain
from tesserra_core.usecases.files import Upload
from tesserra_core.usecases.installations import InstallRequest
from tesserra_core.usecases.mail import NewEmailAlias, NewMailbox
from tesserra_core.usecases.projects import NewProject
from tesserra_core.usecases.resources import NewResource
from tesserra_core.usecases.sandbox_views import NewSandbox
from tesserra_core.usecases.zones import NewDnsRecord
from tests.browser.test_tools_browser import PROBE
from tests.drivers.http.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, Accounts
from tests.drivers.web.test_console_mail import verified_domain
from tests.servers.scripted_model import ScriptedModelServer
from tests.support import LiveServer, missing

SCREENSHOTS = Path(
    os.environ.get(
        "TESSERRA_TEST_SCREENSHOTS", Path(__file__).resolve().parents[2] / "test-artifacts/console-screenshots"
    )
)

VIEWS = [
    pytest.param({"color_scheme": "light", "viewport": {"width": 1280, "height": 800}}, id="light"),
    pytest.param({"color_scheme": "dark", "viewport": {"width": 1280, "height": 800}}, id="dark"),
    pytest.param({"color_scheme": "light", "viewport": {"width": 320, "height": 640}}, id="320px"),
]


async def _chunks(content: bytes) -> AsyncIterator[bytes]:
    yield content


@pytest.fixture(scope="module")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.mark.parametrize("view", VIEWS)
async def test_no_serious_or_critical_violation_on_any_page(
    chromium: Any,
    site: LiveServer,
    people: Accounts,
    model: ScriptedModelServer,
    view: dict[str, Any],
    request: pytest.FixtureRequest,
    screenshots: Path,
) -> None:
    try:
        from axe_playwright_python.async_playwright import Axe
    except ImportError:
        missing("axe-playwright-python", "pip install axe-playwright-python (it ships axe-core)")
    owner = await people.tenant_owner()
    actor = await site.uc.authenticate(owner.access)
    project = await site.uc.projects.create(actor, NewProject(name="a11y"))
    await site.uc.files.upload(actor, project.id, Upload("notes.txt", "text/plain", _chunks(b"a11y")))
    resource = await site.uc.resources.create(actor, project.id, NewResource(type="object_bucket", name="assets"))
    domain = await site.uc.domains.create(actor, NewDomain(name=f"a11y-{uuid.uuid4().hex[:8]}.example.com"))
    await site.uc.zones.create_record(actor, domain.id, NewDnsRecord(name="www", type=RecordType.A, data="192.0.2.7"))
    installed = await site.uc.installations.install(actor, PROBE, InstallRequest(config={"PROBE_TOKEN": "t"}))
    mail_domain = await verified_domain(site, owner.tenant_id)
    mailbox = await site.uc.mail.create_mailbox(actor, NewMailbox(address=f"a@{mail_domain}", password="a11y-pass-12"))
    alias = await site.uc.mail.create_alias(actor, NewEmailAlias(source=f"b@{mail_domain}", destinations=["c@x.org"]))
    agent = await site.uc.agents.create_private(
        actor, NewAgent(vertical="support", name="a11y agent", instructions="Answer briefly.")
    )
    chat = await site.uc.conversations.start(actor, NewConversation(agent_id="ops-assistant"))
    waiting = await site.uc.conversations.start(actor, NewConversation(agent_id="ops-assistant", title="waiting"))
    model.script(say("Hello <b>there</b>.", pieces=2), call("delete_project", {"project_id": project.id}))
    await site.uc.conversations.send(actor, chat.id, NewMessage(content="Hi"))
    await site.uc.conversations.send(actor, waiting.id, NewMessage(content="Delete it"))  # waits for approval
    sandbox = await site.uc.sandboxes.create(
        actor, NewSandbox(name="a11y", command=["python3", "-m", "http.server", "8000"], ports=[8000])
    )
    [container] = await site.uc.ports.runtime.list(f"sandbox:{sandbox.id}")
    context = await chromium.new_context(bypass_csp=True, **view)
    try:
        page = await context.new_page()
        axe = Axe()
        found: dict[str, list[str]] = {}

        label = request.node.callspec.id

        async def check(path: str) -> None:
            name = re.sub(r"[^a-z0-9]+", "-", path.removeprefix("/console").split("?")[0].lower()).strip("-")
            name = name or "overview"
            name = name.replace(f"projects-{project.id.lower()}", "project")
            name = name.replace(f"resources-{resource.id.lower()}", "resource")
            name = name.replace(f"domains-{domain.id.lower()}", "domain")
            name = name.replace(f"installations-{installed.id.lower()}", "installation")
            name = name.replace(f"mailboxes-{mailbox.id.lower()}", "mailbox")
            name = name.replace(f"aliases-{alias.id.lower()}", "alias")
            name = name.replace(f"agents-{agent.id.lower()}", "agent")
            name = name.replace(f"chat-{chat.id.lower()}", "conversation")
            name = name.replace(f"chat-{waiting.id.lower()}", "conversation-approval")
            name = name.replace(f"sandboxes-{sandbox.id.lower()}", "sandbox")
            name = name.replace(f"containers-{container.id.lower()}", "container")
            await page.screenshot(path=str(screenshots / f"{label}-{name}.png"), full_page=True)
            results = await axe.run(page)
            bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
            if bad:
                found[path] = [f"{v['id']}: {[n['target'] for n in v['nodes']][:3]}" for v in bad]

        await page.goto(f"{site.url}/console/login")
        await check("/console/login")
        await page.fill("#email", owner.email)
        await page.fill("#password", PASSWORD)
        async with page.expect_navigation():
            await page.click("form.stack button[type=submit]")
        for path in (
            "/console/",
            "/console/projects",
            f"/console/projects/{project.id}",
            f"/console/projects/{project.id}/files",
            f"/console/projects/{project.id}/health",
            "/console/projects/catalog",
            f"/console/projects/{project.id}/resources/new",
            f"/console/resources/{resource.id}",
            "/console/keys",
            "/console/sessions",
            "/console/password",
            "/console/projects/missing",
            "/console/members",
            "/console/invitations",
            "/console/tenants",
            "/console/invitations/accept?token=x.y",
            "/console/domains",
            f"/console/domains/{domain.id}",
            "/console/marketplace",
            f"/console/marketplace/{PROBE}",
            "/console/installations",
            "/console/shared-tools",
            "/console/mailboxes",
            f"/console/mailboxes/{mailbox.id}",
            "/console/aliases",
            f"/console/aliases/{alias.id}",
            "/console/agents",
            f"/console/agents/{agent.id}",
            "/console/chat",
            f"/console/chat/{chat.id}",
            f"/console/chat/{waiting.id}",
            "/console/sandboxes",
            "/console/sandboxes/new",
            f"/console/sandboxes/{sandbox.id}",
            "/console/containers",
            f"/console/containers/{container.id}",
            "/console/billing",
        ):
            await page.goto(f"{site.url}{path}")
            await check(path)
        await page.goto(f"{site.url}/console/keys")
        await page.click("text=Create a key")  # the form open, then the page showing the secret
        await check("/console/keys (form open)")
        await page.fill("#key-name", "a11y")
        async with page.expect_navigation():
            await page.click("#new-key button[type=submit]")
        await check("/console/keys/created")
        await page.goto(f"{site.url}/console/invitations")
        await page.fill("#invite-email", "a11y@example.com")
        async with page.expect_navigation():
            await page.click("#new-invitation button[type=submit]")
        await check("/console/invitations/created")
        await page.goto(f"{site.url}/console/domains/{domain.id}")
        await page.click("text=Add a record")  # the form open, and refused input shown on it
        await page.fill("#record-data", "not-an-address")
        async with page.expect_navigation():
            await page.click("#new-record button[type=submit]")
        await check(f"/console/domains/{domain.id} (refused record)")
        await page.goto(f"{site.url}/console/installations/{installed.id}")
        await page.locator("#call").wait_for(timeout=60_000)  # ready: the call form is there
        await page.fill("#call-arguments", '{"text": "a11y"}')
        async with page.expect_navigation():
            await page.click("#call button[type=submit]")
        await check(f"/console/installations/{installed.id} (called)")
        await page.goto(f"{site.url}/console/mailboxes/{mailbox.id}")
        async with page.expect_navigation():
            await page.click("#reset button[type=submit]")
        await check(f"/console/mailboxes/{mailbox.id}/password")
        await page.goto(f"{site.url}/console/sandboxes/new")
        await page.fill("#sb-name", "a11y")
        await page.fill("#sb-ports", "not-a-port")
        async with page.expect_navigation():
            await page.click("#new-sandbox button[type=submit]")
        await check("/console/sandboxes/new (refused)")
        await page.goto(f"{site.url}/console/sandboxes/{sandbox.id}")
        async with page.expect_navigation():
            await page.click("#action-stop")
        async with page.expect_navigation():
            await page.click("#action-delete")
        await check(f"/console/sandboxes/{sandbox.id} (deleted)")
        assert found == {}
    finally:
        await context.close()


@pytest.mark.parametrize("view", VIEWS)
async def test_no_serious_or_critical_violation_on_the_infra_ssh_pages(
    chromium: Any, site: LiveServer, view: dict[str, Any], request: pytest.FixtureRequest, screenshots: Path
) -> None:
    try:
        from axe_playwright_python.async_playwright import Axe
    except ImportError:
        missing("axe-playwright-python", "pip install axe-playwright-python (it ships axe-core)")
    from tests.browser.test_infra_ssh_browser import infra_scene

    scene = await infra_scene(site)  # a platform administrator's pages: a host, a pending lease, a failed run
    context = await chromium.new_context(bypass_csp=True, **view)
    try:
        page = await context.new_page()
        axe, found, label = Axe(), {}, request.node.callspec.id
        await page.goto(f"{site.url}/console/login")
        await page.fill("#email", scene.approver)
        await page.fill("#password", PASSWORD)
        async with page.expect_navigation():
            await page.click("form.stack button[type=submit]")
        for path, name in (
            ("/console/infra/hosts", "infra-hosts"),
            (f"/console/infra/hosts/{scene.host_id}", "infra-host"),
            ("/console/infra/leases", "infra-leases"),
            ("/console/infra/leases/new", "infra-lease-new"),
            (f"/console/infra/leases/{scene.lease_id}", "infra-lease"),
            ("/console/infra/runs", "infra-runs"),
            (f"/console/infra/runs/{scene.run_id}", "infra-run"),
            ("/console/infra/forwards", "infra-forwards"),
            ("/console/infra/audit?verify=1", "infra-audit"),
        ):
            await page.goto(f"{site.url}{path}")
            await page.screenshot(path=str(screenshots / f"{label}-{name}.png"), full_page=True)
            results = await axe.run(page)
            bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
            if bad:
                found[path] = [f"{v['id']}: {[n['target'] for n in v['nodes']][:3]}" for v in bad]
        assert found == {}
    finally:
        await context.close()


@pytest.mark.parametrize("view", VIEWS)
async def test_no_serious_or_critical_violation_on_the_admin_pages(
    chromium: Any,
    site: LiveServer,
    people: Accounts,
    view: dict[str, Any],
    request: pytest.FixtureRequest,
    screenshots: Path,
) -> None:
    try:
        from axe_playwright_python.async_playwright import Axe
    except ImportError:
        missing("axe-playwright-python", "pip install axe-playwright-python (it ships axe-core)")
    from tests.browser.test_admin_browser import admin_scene

    scene = await admin_scene(site, people)  # a tenant, a plan with a price, a platform agent
    context = await chromium.new_context(bypass_csp=True, **view)
    try:
        page = await context.new_page()
        axe, found, label = Axe(), {}, request.node.callspec.id
        await page.goto(f"{site.url}/console/login")
        await page.fill("#email", ADMIN_EMAIL)
        await page.fill("#password", ADMIN_PASSWORD)
        async with page.expect_navigation():
            await page.click("form.stack button[type=submit]")

        async def check(path: str, name: str) -> None:
            await page.screenshot(path=str(screenshots / f"{label}-{name}.png"), full_page=True)
            results = await axe.run(page)
            bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
            if bad:
                found[path] = [f"{v['id']}: {[n['target'] for n in v['nodes']][:3]}" for v in bad]

        for path, name in scene.pages:
            await page.goto(f"{site.url}{path}")
            await check(path, name)
        await page.goto(f"{site.url}/console/admin/plans")
        await page.click("text=Create a plan")  # the form open, and refused input shown on it
        await page.fill("#plan-code", "Not A Code")
        await page.fill("#plan-name", "a11y")
        async with page.expect_navigation():
            await page.click("#new-plan button[type=submit]")
        await check("/console/admin/plans (refused)", "admin-plans-refused")
        assert found == {}
    finally:
        await context.close()
