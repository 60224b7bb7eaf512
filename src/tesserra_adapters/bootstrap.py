"""The composition root: settings -> adapters -> the use-case facade."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tesserra_adapters.container import MemoryAdapters, RealAdapters
from tesserra_adapters.settings import Settings
from tesserra_core.facade import UseCases, use_cases
from tesserra_core.ports import Ports

log = logging.getLogger("tesserra")


async def _provide(provider: Any) -> Any:
    """A provider's value; providers that depend on an async resource hand back an awaitable."""
    value = provider()
    return await value if inspect.isawaitable(value) else value


async def build(adapters: RealAdapters | MemoryAdapters, settings: Settings) -> UseCases:
    init = adapters.init_resources()
    if init is not None:
        await init
    ports = Ports(**{name: await _provide(getattr(adapters, name)) for name in Ports.__dataclass_fields__})
    uc = use_cases(ports, rate_scale=settings.rate_limit_scale)
    await uc.marketplace.refresh_catalog.ensure_loaded()
    return uc


@asynccontextmanager
async def running(settings: Settings, *, memory: bool = False) -> AsyncIterator[UseCases]:
    """The facade for the life of the block; adapters' resources are released at its end."""
    settings.prepare_data_dir()
    adapters = MemoryAdapters(settings=settings) if memory else RealAdapters(settings=settings)
    try:
        yield await build(adapters, settings)
    finally:
        shutdown = adapters.shutdown_resources()
        if shutdown is not None:
            await shutdown


def upgrade_database(settings: Settings, revision: str = "head") -> None:
    """``tesserra db upgrade``: bring the configured database's schema to ``revision``."""
    from tesserra_adapters.sql.migrate import upgrade_url

    upgrade_url(settings.database_url, revision)
