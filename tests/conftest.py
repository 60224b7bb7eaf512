from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest

# Tests never read the developer's own TESSERRA_* settings.
for _name in [n for n in os.environ if n.startswith("TESSERRA_") and not n.startswith("TESSERRA_TEST_")]:
    del os.environ[_name]


@pytest.fixture
async def exit_stack() -> AsyncIterator[AsyncExitStack]:
    """What a test's composition root entered (the memory runtime, ...), released when the test ends."""
    async with AsyncExitStack() as stack:
        yield stack


@pytest.fixture(scope="session")
async def ssh_lab() -> AsyncIterator[object]:
    """Real sshd servers on loopback (see tests/servers/sshd.py), started once per test session; a skip
    (or a failure under TESSERRA_TEST_REQUIRE_ALL=1) where sshd or root is missing."""
    from tests.servers.sshd import ssh_lab as lab

    async with lab() as started:
        yield started


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The real-model tests (tests/real_model) run last: they wait for the model's virtualenv, which
    ``nox -s tests`` builds in the background while the rest of the suite runs."""
    real = [item for item in items if "real_model" in item.path.parts]
    if real:
        items[:] = [item for item in items if "real_model" not in item.path.parts] + real
