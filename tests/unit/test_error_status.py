"""One status-for-error table: each core error carries its HTTP status, and both drivers answer with it."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any, cast

import pytest

from tesserra_core import errors
from tesserra_core.facade import UseCases
from tesserra_http.errors import on_core_error
from tesserra_mcp.endpoint import McpEndpoint

ERRORS = [
    cls
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.TesserraError) and cls is not errors.TesserraError
]


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_each_error_carries_the_status_its_docstring_names(cls: type[errors.TesserraError]) -> None:
    named = re.search(r"\((\d{3})\)", cls.__doc__ or "")
    assert cls.status == (int(named.group(1)) if named else 400)


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
async def test_rest_and_the_mcp_endpoint_answer_an_error_with_the_same_status(cls: type[errors.TesserraError]) -> None:
    exc = cls("refused", code="some_code")

    async def refuse(_: object) -> None:
        raise exc

    uc = cast(UseCases, SimpleNamespace(authenticate=SimpleNamespace(from_headers=refuse)))
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await McpEndpoint(uc)({"type": "http", "headers": []}, None, send)
    rest = on_core_error(cast(Any, None), exc)
    assert sent[0]["status"] == rest.status_code == cls.status
