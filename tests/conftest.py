from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack

import pytest

from tests import workloads_left

# Tests never read the developer's own TESSERRA_* settings.
for _name in [n for n in os.environ if n.startswith("TESSERRA_") and not n.startswith("TESSERRA_TEST_")]:
    del os.environ[_name]


@pytest.fixture(scope="session", autouse=True)
def no_workload_outlives_the_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Set up first, so torn down last (after every server of the run stopped): the process workloads
    recorded in the run's data dirs are removed (see tests/workloads_left.py), then the run fails if a
    sandbox process (bubblewrap, pasta, a workload) of one of them is still alive."""
    yield
    root = tmp_path_factory.getbasetemp()
    asyncio.run(workloads_left.remove_recorded(root))
    left = workloads_left.processes_under(root)
    workloads_left.kill(left)
    assert not left, f"sandbox processes outlived their workload's removal: {left}"


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
