"""What the chat driver tests share: the suite's scripted OpenAI-compatible server (one per module,
its script reset around each test) and a live server on each backend that answers with it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests import support
from tests.drivers.http.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, BACKENDS, Accounts
from tests.servers.scripted_model import ScriptedModelServer, scripted_model
from tests.support import LiveServer, database_url, live_server

OPS = "ops-assistant"


@pytest.fixture(scope="module")
async def model() -> AsyncIterator[ScriptedModelServer]:
    async with scripted_model() as server:
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
async def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, model: ScriptedModelServer
) -> AsyncIterator[LiveServer]:
    tmp = tmp_path_factory.mktemp(f"chat-{request.param}")
    async with database_url(request.param, tmp) as url:
        settings = support.test_settings(tmp, url, model_base_url=model.url, model="tiny-chat")
        async with live_server(settings) as srv:
            assert await srv.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
            yield srv


@pytest.fixture(scope="module")
def accounts(server: LiveServer) -> Accounts:
    return Accounts(server.uc)


@pytest.fixture(autouse=True)
def unscripted(model: ScriptedModelServer) -> Iterator[None]:
    model.script()
    yield
    model.script()
