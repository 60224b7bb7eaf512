"""Resources provisioned on the real Docker engine: the locally built busybox image serving httpd,
reached only through its port published on 127.0.0.1; checked, stopped, started and deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tesserra_adapters.bootstrap import running
from tesserra_core.domain.identity import Principal
from tesserra_core.domain.resources import DesiredState, ResourceStatus, owner_of
from tesserra_core.facade import UseCases
from tesserra_core.ports.health import Health
from tesserra_core.usecases.projects import NewProject
from tesserra_core.usecases.resources import NewResource, ResourceChanges
from tesserra_core.usecases.sessions import Credentials
from tests import support
from tests.support import BUSYBOX_IMAGE, DOCKER_HOST, docker_image, eventually

EMAIL = "owner@docker.tesserra.test"
PASSWORD = "docker-password-1"
HTTPD = {"image": BUSYBOX_IMAGE, "port": 8080, "command": ["httpd", "-f", "-p", "8080", "-h", "/www"]}


@pytest.fixture
async def docker_uc(tmp_path: Path) -> AsyncIterator[UseCases]:
    await docker_image(BUSYBOX_IMAGE)
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    settings = support.test_settings(tmp_path, url, runtime="docker", docker_host=DOCKER_HOST)
    async with running(settings) as uc, uc.provisioner.running():
        yield uc


async def _owner(uc: UseCases) -> Principal:
    assert await uc.operators.ensure_first_owner(EMAIL, PASSWORD)
    pair = await uc.sessions.login(Credentials(EMAIL, PASSWORD))
    return await uc.authenticate(pair.access_token)


async def test_a_web_app_runs_as_a_container_answers_and_is_removed(docker_uc: UseCases) -> None:
    uc = docker_uc
    owner = await _owner(uc)
    pid = (await uc.projects.create(owner, NewProject(name="docker"))).id
    created = await uc.resources.create(owner, pid, NewResource(type="web_app", name="httpd", config=HTTPD))
    assert created.status is ResourceStatus.PENDING

    async def settled() -> object:
        r = await uc.resources.get(owner, created.id)
        return r if r.status in (ResourceStatus.RUNNING, ResourceStatus.FAILED) else None

    running_view = await eventually(settled, within=60)
    assert running_view.status is ResourceStatus.RUNNING, running_view  # type: ignore[attr-defined]
    endpoint = running_view.endpoint  # type: ignore[attr-defined]
    assert endpoint.startswith("http://127.0.0.1:")
    workloads = await uc.ports.runtime.list(owner_of(created.id))
    assert [w.runtime for w in workloads] == ["docker"]

    async with httpx.AsyncClient(timeout=3, trust_env=False) as http:

        async def page() -> str | None:
            try:
                response = await http.get(endpoint + "/index.html")
            except httpx.HTTPError:
                return None
            return response.text if response.status_code == 200 else None

        assert (await eventually(page, within=20)).strip() == "tesserra test page"

    report = await uc.health.project(owner, pid)
    assert report.status is Health.OK, report
    (item,) = report.items
    assert item.runtime_state == "running"
    assert item.latency_ms is not None

    stopped = await uc.resources.update(owner, created.id, ResourceChanges(state=DesiredState.STOPPED))
    assert stopped.status is ResourceStatus.STOPPED
    restarted = await uc.resources.update(owner, created.id, ResourceChanges(state=DesiredState.RUNNING))
    assert restarted.status is ResourceStatus.PENDING
    again = await eventually(settled, within=60)
    assert again.status is ResourceStatus.RUNNING  # type: ignore[attr-defined]

    await uc.resources.delete(owner, created.id)
    await uc.provisioner.settled()
    assert await uc.ports.runtime.list(owner_of(created.id)) == []


async def test_a_missing_image_fails_with_the_engines_reason(docker_uc: UseCases) -> None:
    uc = docker_uc
    owner = await _owner(uc)
    pid = (await uc.projects.create(owner, NewProject(name="docker"))).id
    config = {**HTTPD, "image": "tesserra-test/does-not-exist:never"}
    created = await uc.resources.create(owner, pid, NewResource(type="web_app", name="missing", config=config))
    await uc.provisioner.settled()
    failed = await uc.resources.get(owner, created.id)
    assert failed.status is ResourceStatus.FAILED
    assert failed.status_reason
    assert await uc.ports.runtime.list(owner_of(created.id)) == []
