"""A project's resources and settings over a real socket: the resource catalog, a resource added through the
form (its settings as JSON, checked by the use case), renamed and reconfigured, deleted; a project renamed and
deleted; hostile input gets a 4xx page with its message; a viewer sees no write controls and is refused;
another tenant's resource is a 404 page; writes without the CSRF token or from another origin are refused."""

from __future__ import annotations

import re

from tesserra_core.domain.identity import Role
from tesserra_core.usecases.projects import NewProject
from tesserra_core.usecases.resources import NewResource
from tests.drivers.http.conftest import PASSWORD, Accounts
from tests.drivers.web.conftest import ConsoleClient


async def _owner_console(clients, accounts: Accounts):
    owner = await accounts.tenant_owner()
    console = ConsoleClient(clients())
    await console.sign_in(owner.email, PASSWORD)
    return owner, console


async def test_the_catalog_lists_every_resource_type(clients, accounts: Accounts) -> None:
    _, console = await _owner_console(clients, accounts)
    page = await console.get("/console/projects/catalog")
    assert page.status_code == 200
    for kind in ("web_app", "static_site", "postgres_database", "object_bucket", "cron_job", "mcp_server"):
        assert f'id="type-{kind}"' in page.text


async def test_a_resource_added_edited_and_deleted_through_the_pages(clients, accounts: Accounts, server) -> None:
    owner, console = await _owner_console(clients, accounts)
    actor = await server.uc.authenticate(owner.access)
    project = await server.uc.projects.create(actor, NewProject(name="web"))
    shown = await console.get(f"/console/projects/{project.id}")
    assert f'href="/console/projects/{project.id}/resources/new"' in shown.text
    form = await console.get(f"/console/projects/{project.id}/resources/new?type=object_bucket")
    assert '<option value="object_bucket" selected>' in form.text
    made = await console.post(
        f"/console/projects/{project.id}/resources",
        {"type": "object_bucket", "name": "assets", "config": '{"quota_mb": 10}'},
    )
    assert made.status_code == 303, made.text
    location = made.headers["location"]
    found = re.fullmatch(r"/console/resources/([^/]+)", location)
    assert found, location
    resource_id = found.group(1)
    page = await console.get(location)
    assert "<h1>assets</h1>" in page.text
    assert "&#34;quota_mb&#34;: 10" in page.text
    assert f'href="/console/resources/{resource_id}"' in (await console.get(f"/console/projects/{project.id}")).text

    saved = await console.post(location, {"name": "media", "config": '{"quota_mb": 20, "versioning": true}'})
    assert saved.status_code == 303, saved.text
    view = await server.uc.resources.get(actor, resource_id)
    assert view.name == "media"
    assert view.config["quota_mb"] == 20

    # hostile input: a 4xx page with the reason, what was typed kept
    for config, status, message in (
        ("{not json", 400, "not valid JSON"),
        ("[1, 2]", 400, "a JSON object is expected"),
        ('{"quota_mb": "lots"}', 422, "quota_mb"),
    ):
        refused = await console.post(location, {"name": "media", "config": config})
        assert refused.status_code == status, (config, refused.status_code, refused.text[:300])
        assert message in refused.text
    unknown = await console.post(f"/console/projects/{project.id}/resources", {"type": "rocket", "name": "x"})
    assert unknown.status_code == 422
    assert "unknown resource type" in unknown.text
    nameless = await console.post(f"/console/projects/{project.id}/resources", {"type": "object_bucket", "name": ""})
    assert nameless.status_code == 400
    bad_state = await console.post(f"{location}/state", {"state": "flying"})
    assert bad_state.status_code == 400
    assert "running or stopped" in bad_state.text

    state = (await server.uc.resources.get(actor, resource_id)).status.value
    stop = await console.post(f"{location}/state", {"state": "stopped"})  # a bucket runs no workload
    if state == "running":
        assert stop.status_code == 303
    else:
        assert stop.status_code == 409
        assert "only a running resource can be stopped" in stop.text

    deleted = await console.post(f"{location}/delete")
    assert deleted.status_code == 303
    assert deleted.headers["location"] == f"/console/projects/{project.id}"


async def test_a_project_renamed_and_deleted_through_its_page(clients, accounts: Accounts, server) -> None:
    owner, console = await _owner_console(clients, accounts)
    actor = await server.uc.authenticate(owner.access)
    project = await server.uc.projects.create(actor, NewProject(name="old name"))
    await console.get(f"/console/projects/{project.id}")
    saved = await console.post(f"/console/projects/{project.id}", {"name": "new name", "description": "about"})
    assert saved.status_code == 303, saved.text
    assert "<h1>new name</h1>" in (await console.get(f"/console/projects/{project.id}")).text
    archived = await console.post(f"/console/projects/{project.id}", {"name": "new name", "status": "archived"})
    assert archived.status_code == 303
    assert (await server.uc.projects.get(actor, project.id)).status.value == "archived"
    odd = await console.post(f"/console/projects/{project.id}", {"name": "new name", "status": "gone"})
    assert odd.status_code == 400
    assert "this project cannot be saved" in odd.text
    empty = await console.post(f"/console/projects/{project.id}", {"name": "", "description": ""})
    assert empty.status_code == 400
    assert "this project cannot be saved" in empty.text
    deleted = await console.post(f"/console/projects/{project.id}/delete")
    assert deleted.status_code == 303
    assert (await console.get(f"/console/projects/{project.id}")).status_code == 404


async def test_a_viewer_is_refused_and_another_tenants_resource_is_404(clients, accounts: Accounts, server) -> None:
    owner = await accounts.tenant_owner()
    actor = await server.uc.authenticate(owner.access)
    project = await server.uc.projects.create(actor, NewProject(name="kept"))
    resource = await server.uc.resources.create(actor, project.id, NewResource(type="object_bucket", name="b"))
    viewer = await accounts.member(owner.tenant_id, Role.VIEWER)
    console = ConsoleClient(clients())
    await console.sign_in(viewer.email, PASSWORD)
    page = await console.get(f"/console/resources/{resource.id}")
    assert page.status_code == 200
    assert 'id="edit-resource"' not in page.text
    assert 'id="delete-resource"' not in page.text
    assert 'id="edit-project"' not in (await console.get(f"/console/projects/{project.id}")).text
    for path, form in (
        (f"/console/projects/{project.id}/resources", {"type": "object_bucket", "name": "x"}),
        (f"/console/resources/{resource.id}", {"name": "x", "config": "{}"}),
        (f"/console/resources/{resource.id}/state", {"state": "stopped"}),
        (f"/console/resources/{resource.id}/delete", {}),
        (f"/console/projects/{project.id}", {"name": "x"}),
        (f"/console/projects/{project.id}/delete", {}),
    ):
        assert (await console.post(path, form)).status_code == 403, path
    assert (await server.uc.resources.get(actor, resource.id)).name == "b"

    _, stranger = await _owner_console(clients, accounts)
    assert (await stranger.get(f"/console/resources/{resource.id}")).status_code == 404
    assert (await stranger.post(f"/console/resources/{resource.id}/delete")).status_code == 404
    assert (await stranger.post(f"/console/projects/{project.id}/delete")).status_code == 404
    assert (await stranger.get(f"/console/projects/{project.id}/resources/new")).status_code == 404
    for forged in ({"csrf": None}, {"csrf": "forged"}, {"origin": "https://evil.example"}, {"origin": None}):
        refused = await stranger.post(f"/console/projects/{project.id}/delete", **forged)
        assert refused.status_code == 403
    assert (await server.uc.projects.get(actor, project.id)).name == "kept"
