"""Views read their fields off the entity by name: a view that states none of them itself (no
constructor of its own, such as ``of``) must find every field on its entity, with the same type."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, get_args, get_type_hints

import pytest

import tesserra_core.usecases
from tesserra_core.usecases.views import View


def _views() -> list[type[View[Any]]]:
    for module in pkgutil.iter_modules(tesserra_core.usecases.__path__):
        importlib.import_module(f"tesserra_core.usecases.{module.name}")
    found: list[type[View[Any]]] = []
    todo = list(View.__subclasses__())
    while todo:
        view = todo.pop()
        found.append(view)
        todo.extend(view.__subclasses__())
    return sorted(found, key=lambda v: v.__qualname__)


def _entity(view: type[View[Any]]) -> type:
    (base,) = (b for b in view.__orig_bases__ if getattr(b, "__origin__", None) is View)  # type: ignore[attr-defined]
    (entity,) = get_args(base)
    return entity  # type: ignore[no-any-return]


def _states_fields(view: type[View[Any]]) -> bool:
    """Whether the view has a constructor of its own (``of``, or one taking more than the entity)."""
    return any(isinstance(member, classmethod) for member in vars(view).values())


PLAIN = [v for v in _views() if not _states_fields(v)]


def test_the_plain_views_are_found() -> None:
    assert len(PLAIN) >= 10, [v.__qualname__ for v in PLAIN]


@pytest.mark.parametrize("view", PLAIN, ids=lambda v: v.__qualname__)
def test_a_plain_view_finds_each_field_on_its_entity_with_the_same_type(view: type[View[Any]]) -> None:
    entity = get_type_hints(_entity(view))
    for name, kind in get_type_hints(view).items():
        assert name in entity, f"{view.__qualname__}.{name} is not an attribute of {_entity(view).__qualname__}"
        assert kind == entity[name], f"{view.__qualname__}.{name}: {kind} here, {entity[name]} on the entity"
