"""Inputs converted from a driver's arguments: every bound of the Struct runs, and a refusal reads as REST's."""

from __future__ import annotations

import pytest

from tesserra_core.domain.inputs import convert
from tesserra_core.errors import ValidationFailed
from tesserra_core.usecases.mail import NewEmailAlias
from tesserra_core.usecases.projects import NewProject


def test_a_valid_input_converts() -> None:
    assert convert(NewProject, {"name": "site", "description": "x"}) == NewProject(name="site", description="x")


@pytest.mark.parametrize(
    ("cls", "fields", "detail"),
    [
        (NewProject, {"name": ""}, "invalid request: name: Expected `str` of length >= 1"),
        (
            NewProject,
            {"name": "a\x1bb"},
            "invalid request: name: Expected a name: one line without control characters, not only white space",
        ),
        (NewProject, {"name": "a", "owner": "b"}, "invalid request: Object contains unknown field `owner`"),
        (
            NewEmailAlias,
            {"source": "a@example.com", "destinations": ["b@example.com", 7]},
            "invalid request: destinations[1]: Expected `str`, got `int`",
        ),
    ],
)
def test_a_refusal_names_the_field_and_what_was_expected(cls: type, fields: dict[str, object], detail: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        convert(cls, fields)
    assert (refused.value.code, refused.value.message) == ("validation_failed", detail)
