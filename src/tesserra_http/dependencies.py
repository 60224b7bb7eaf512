"""Litestar dependencies: the facade and the authenticated actor (both async: no thread hop)."""

from __future__ import annotations

from typing import TypeAlias

from litestar.di import NamedDependency, Provide
from litestar.types import Scope

from tesserra_core.domain.identity import Principal
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Unauthenticated
from tesserra_core.usecases import UseCases
from tesserra_http.conventions import provide_page
from tesserra_http.guard import ACTOR

# What handlers declare: the facade, the authenticated caller, and the requested page.
Uc: TypeAlias = NamedDependency[UseCases]
Actor: TypeAlias = NamedDependency[Principal]
Paging: TypeAlias = NamedDependency[PageRequest]


async def provide_actor(scope: Scope) -> Principal:
    actor = scope.get(ACTOR)
    if not isinstance(actor, Principal):
        raise Unauthenticated("credentials required", code="missing_credentials")
    return actor


def dependencies(uc: UseCases) -> dict[str, Provide]:
    async def provide_uc() -> UseCases:
        return uc

    return {
        "uc": Provide(provide_uc, use_cache=True),
        "actor": Provide(provide_actor),
        "page": Provide(provide_page),
    }
