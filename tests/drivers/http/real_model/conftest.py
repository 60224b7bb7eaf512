"""The real-model tests' fixtures: the llama server on SmolLM2-135M-Instruct (tests/servers/real_model.py,
built in the background by ``nox -s tests``) and a live server on SQLite that answers with it. Its catalog
is the shipped one plus two agents of the tests' own: one whose only tool is list_projects (so the tiny
model has one tool to pick) and one allowed two model steps (the step limit)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import msgspec
import pytest

from tesserra_core.domain.agents import Agent, AgentCatalog, AgentLimits, Sampling, agent_catalog
from tests import support
from tests.drivers.http.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Accounts
from tests.servers.real_model import llama_server, model_python
from tests.support import LiveServer, database_url, live_server

LISTER = "real-model-lister"
STEPPER = "real-model-stepper"

_INSTRUCTIONS = "You help the user with their Tesserra projects. Call list_projects to see them."


def _catalog() -> AgentCatalog:
    shipped = agent_catalog()
    ours = [
        Agent(
            id=LISTER,
            version=1,
            vertical="operations",
            name="Lister",
            description="Lists the user's projects.",
            instructions=_INSTRUCTIONS,
            sampling=Sampling(temperature=0.0),
            limits=AgentLimits(max_steps=4, max_tool_calls=4, max_tokens_per_turn=512),
            tools=("list_projects",),
        ),
        Agent(
            id=STEPPER,
            version=1,
            vertical="operations",
            name="Stepper",
            description="Two model steps at most.",
            instructions=_INSTRUCTIONS,
            sampling=Sampling(temperature=0.0),
            limits=AgentLimits(max_steps=2, max_tool_calls=8, max_tokens_per_turn=512),
            tools=("list_projects",),
        ),
    ]
    return msgspec.structs.replace(shipped, agents=(*shipped.agents, *ours))


@pytest.fixture(scope="module")
async def model_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    python = await model_python()  # waits for the background build; fails clearly if it failed
    async with llama_server(python, tmp_path_factory.mktemp("llama")) as url:
        yield url


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory, model_url: str) -> AsyncIterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("real-model")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("tesserra_core.facade.agent_catalog", _catalog)
        async with database_url("sqlite", tmp) as url:
            # llama-cpp-python's chatml-function-calling cannot stream a turn that offers tools
            settings = support.test_settings(
                tmp, url, model_base_url=model_url, model="smollm2-135m", model_stream_tools=False
            )
            async with live_server(settings) as srv:
                assert await srv.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
                yield srv


@pytest.fixture(scope="module")
def accounts(server: LiveServer) -> Accounts:
    return Accounts(server.uc)


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """A client patient enough for a model on one loaded core."""
    async with httpx.AsyncClient(base_url=server.url, timeout=600.0) as client:
        yield client
