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
