"""Litestar dependencies: the authenticated actor and the requested page (async: no thread hop).

The use-case facade is not a dependency: each area's routes close over it (see ``controllers``),
so a handler that needs only the actor resolves exactly one dependency.
"""

from __future__ import annotations

from typing import TypeAlias

from litestar.di import NamedDependency, Provide
from litestar.types import Scope

from tesserra_core.domain.identity import Principal
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Unauthenticated
from tesserra_http.conventions import provide_page
from tesserra_http.guard import ACTOR

Actor: TypeAlias = NamedDependency[Principal]
Paging: TypeAlias = NamedDependency[PageRequest]


async def provide_actor(scope: Scope) -> Principal:
    actor = scope.get(ACTOR)
    if not isinstance(actor, Principal):
        raise Unauthenticated("credentials required", code="missing_credentials")
    return actor


DEPENDENCIES = {"actor": Provide(provide_actor), "page": Provide(provide_page)}
