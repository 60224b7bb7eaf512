"""The single-worker server the request-head tests share (they leave no state behind)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.cli.served import Server, healthy, start, stop
from tests.support import free_port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One single-worker server for the request-head tests (they leave no state behind)."""
    served = start(tmp_path_factory.mktemp("serve"), free_port())
    try:
        asyncio.run(healthy(served))
        yield served
    finally:
        stop(served)
