"""The scope a use case states is the one it enforces, the one its MCP tool needs and the one its REST
route documents: each tool and route calls the use case it declares (read from its source), and every
use case of the facade that states a scope refuses a caller without it, and only for that."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import inspect
import re
import types
import typing
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import msgspec
import pytest
from litestar.routes import HTTPRoute

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Forbidden
from tesserra_core.facade import UseCases
from tesserra_core.usecases.agents import ListAgents, ListVerticals
from tesserra_core.usecases.billing_plans import ListPlans
from tesserra_core.usecases.contract import description_of, scope_of
from tesserra_core.usecases.members import AcceptInvitation, MyTenants
from tesserra_core.usecases.projects import GetProject, ListCatalog
from tesserra_core.usecases.sessions import ChangePassword, Logout, Me
from tesserra_http.app import create_app
from tesserra_mcp.registry import ToolSet, ToolSpec
from tesserra_mcp.tools import ALL

# What every signed-in person may do to their own account, or anyone may read.
NO_SCOPE = {ListCatalog, ListPlans, ListAgents, ListVerticals, Me, Logout, ChangePassword, AcceptInvitation, MyTenants}
"""Use cases a driver calls that check no scope: the public catalogs (resource types, plans, agents and
verticals), and what any caller may ask of their own login (who am I, log out, change my password)."""

_CALL = re.compile(r"\buc\.(\w+)\.(\w+)\(")


def _called(uc: UseCases, fn: Any) -> list[type]:
    """The use cases a tool or handler calls, read from its source (``uc.<area>.<use case>(``)."""
    return [type(getattr(getattr(uc, area), name)) for area, name in _CALL.findall(inspect.getsource(fn))]


def _specs() -> list[ToolSpec]:
    return [spec for toolset in ALL for spec in toolset.specs]


def test_every_tool_calls_the_use_case_it_declares_and_needs_that_use_cases_scope(uc: UseCases) -> None:
    for spec in _specs():
        assert _called(uc, spec.fn) == [spec.uses], spec.name
        stated = scope_of(spec.uses)
        if stated is not None:
            assert spec.scopes == (stated,), spec.name
            assert spec.scope is None, spec.name
        else:
            assert spec.uses in NO_SCOPE, spec.name
            assert spec.scopes == (spec.scope,), spec.name


async def _tool(*, uc: UseCases, actor: Principal) -> None:
    return None


def test_every_tool_and_route_reads_as_its_use_case_and_adds_only_its_own_notes(uc: UseCases) -> None:
    """The use case's docstring is what a client reads; a tool or a route adds only its transport's notes."""
    for spec in _specs():
        described = description_of(spec.uses)
        assert described, f"{spec.uses.__name__} has no docstring"
        assert spec.description.startswith(described), spec.name
        own = inspect.getdoc(spec.fn) or ""
        assert spec.description == "\n\n".join(p for p in (described, own) if p), spec.name
    for route in create_app(uc).routes:
        for handler in getattr(route, "route_handlers", []):
            uses = handler.opt.get("uses")
            if uses is not None:
                assert description_of(uses), f"{uses.__name__} has no docstring"
                assert handler.fn.__doc__ is None, f"{route.path}: the use case describes it, or description= does"


def test_a_tool_names_a_scope_only_for_a_use_case_that_states_none() -> None:
    tools = ToolSet()
    with pytest.raises(TypeError, match="states its scope"):
        tools.tool(GetProject, scope=Scope.PROFILE_READ)(_tool)
    with pytest.raises(TypeError, match="states its scope"):
        tools.tool(GetProject, scope=Scope.PROJECTS_READ)(_tool)  # even the same one: it is stated once
    with pytest.raises(TypeError, match="states no scope"):
        tools.tool(ListCatalog)(_tool)
    assert tools.specs == []


def test_every_route_calls_the_use_case_it_declares_and_documents_its_scope(uc: UseCases) -> None:
    app = create_app(uc)
    seen = 0
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if "uses" not in handler.opt:
                continue  # not a route of an area (the OpenAPI documents)
            uses = handler.opt["uses"]
            called = _called(uc, handler.fn)
            if uses is None:
                assert route.path in ("/health", "/ready"), route.path  # the probes call no use case
                assert called == [], route.path
                continue
            seen += 1
            assert sorted(called, key=str) == sorted([uses, *handler.opt["negotiates"]], key=str), route.path
            scope = scope_of(uses)
            if scope is None:
                assert uses in NO_SCOPE or handler.opt["public"], route.path
            elif not handler.opt["public"]:
                assert f"Scope: {scope.value}" in (handler.description or ""), route.path
            assert (handler.description or "").startswith(description_of(uses)), route.path
    assert seen > 90


def _areas(uc: UseCases) -> dict[str, Any]:
    """The facade's areas: its fields whose every field is a use case (a callable dataclass)."""

    def is_use_case(value: Any) -> bool:
        return dataclasses.is_dataclass(value) and inspect.iscoroutinefunction(type(value).__call__)

    areas = {}
    for f in dataclasses.fields(uc):
        value = getattr(uc, f.name)
        if dataclasses.is_dataclass(value) and not is_use_case(value):
            members = [getattr(value, m.name) for m in dataclasses.fields(value)]
            if members and all(is_use_case(m) for m in members):
                areas[f.name] = value
    return areas


def _use_cases(uc: UseCases) -> list[tuple[str, Any]]:
    return [
        (f"{name}.{f.name}", getattr(area, f.name))
        for name, area in _areas(uc).items()
        for f in dataclasses.fields(area)
    ]


def test_the_walk_reaches_every_area(uc: UseCases) -> None:
    assert {"projects", "domains", "zones", "mail", "finance", "tenants", "plans", "sessions"} <= set(_areas(uc))


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""


def _sample(tp: Any) -> Any:
    """A value of type ``tp``: enough to reach a use case's scope check."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _sample(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        return None if type(None) in args else _sample(args[0])
    if origin is typing.Literal:
        return typing.get_args(tp)[0]
    if origin in (list, tuple, set, frozenset):
        return origin()
    if origin is dict:
        return {}
    if origin in (AsyncIterable, AsyncIterator):
        return _nothing()
    if tp is PageRequest:
        return PageRequest(10, 0)
    simple: dict[Any, Any] = {str: "nothing-here", int: 1, float: 1.0, bool: False, bytes: b""}
    if tp in simple:
        return simple[tp]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return next(iter(tp))
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp(**{f.name: _sample(f.type) for f in msgspec.structs.fields(tp) if f.required})
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return tp(**{f.name: _sample(hints[f.name]) for f in dataclasses.fields(tp)})
    raise AssertionError(f"no sample for {tp!r}")


async def _call(use_case: Any, actor: Principal) -> Forbidden | None:
    """Call ``use_case`` as ``actor`` with sample arguments; the refusal of a scope, if that is what it answers."""
    hints = typing.get_type_hints(type(use_case).__call__)
    params = list(inspect.signature(use_case.__call__).parameters.values())
    assert params[0].name == "actor", use_case
    args = [_sample(hints[p.name]) for p in params[1:] if p.default is inspect.Parameter.empty]
    try:
        await asyncio.wait_for(use_case(actor, *args), 10)
    except Forbidden as exc:
        if exc.code in ("insufficient_scope", "admin_only"):
            return exc
    except Exception:  # anything past the scope check (not found, bad sample) is beside the point
        pass
    return None


async def test_every_use_case_that_states_a_scope_enforces_that_scope_and_only_it(
    uc: UseCases, admin: Principal
) -> None:
    """Called by a platform administrator (the owner of a tenant) holding every scope but the one a use case
    states, each refuses; holding that one alone, none refuses for a scope."""

    def _actor(scopes: set[Scope]) -> Principal:
        return msgspec.structs.replace(admin, scopes=frozenset(scopes))

    assert admin.is_platform_admin
    checked = 0
    for name, use_case in _use_cases(uc):
        scope = scope_of(type(use_case))
        takes_actor = "actor" in inspect.signature(use_case.__call__).parameters
        if scope is None:
            assert not takes_actor or type(use_case) in NO_SCOPE, f"{name} takes a caller but states no scope"
            continue
        assert takes_actor, name
        refused = await _call(use_case, _actor(set(Scope) - {scope}))
        assert refused is not None, f"{name} states {scope} but lets a caller without it through"
        if scope is Scope.ADMIN:
            assert refused.code == "admin_only", name
        else:
            assert refused.message == f"missing scope: {scope.value}", name
        assert await _call(use_case, _actor({scope})) is None, f"{name} needs more than the {scope} it states"
        checked += 1
    assert checked > 70
