"""PageRequest: limite 1-500 (default 50), offset 0 or more."""

from __future__ import annotations

import pytest

from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.errors import ValidationFailed


@pytest.mark.parametrize(("limite", "offset"), [(0, 0), (501, 0), (-1, 0), (50, -1)])
def test_out_of_bounds_pages_are_invalid(limite: int, offset: int) -> None:
    with pytest.raises(ValidationFailed) as caught:
        PageRequest(limite=limite, offset=offset)

    assert caught.value.code == "invalid_pagination"


@pytest.mark.parametrize(("limite", "offset"), [(1, 0), (500, 0), (50, 10_000)])
def test_pages_within_bounds_are_accepted(limite: int, offset: int) -> None:
    page = PageRequest(limite=limite, offset=offset)

    assert (page.limite, page.offset) == (limite, offset)


def test_the_default_page_is_50_from_the_start() -> None:
    assert PageRequest() == PageRequest(limite=50, offset=0)


def test_a_window_is_the_page_of_everything_with_the_count_of_all() -> None:
    assert PageRequest(limite=2, offset=1).window(list("abcd")) == (["b", "c"], 4)
    assert PageRequest(limite=2, offset=9).window(list("abcd")) == ([], 4)


def test_an_answer_shows_each_item_and_echoes_the_request() -> None:
    page = PageRequest(limite=2, offset=1).answer((["b", "c"], 4), str.upper)

    assert page == Page(["B", "C"], 4, 2, 1)
