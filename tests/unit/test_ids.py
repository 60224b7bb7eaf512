"""The id factory: unique, 26 lowercase base32 characters, in creation order even within a millisecond."""

from __future__ import annotations

from tesserra_adapters.system import UlidFactory


def test_ids_made_in_a_burst_sort_in_creation_order() -> None:
    ids = UlidFactory()
    made = [ids.new() for _ in range(5000)]

    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert all(len(i) == 26 and i == i.lower() for i in made)
