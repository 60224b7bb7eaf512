"""The action catalog refuses templates that could put a parameter anywhere but in a whole argv word of its
own, and the shipped catalog obeys its own rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from tesserra_adapters.bootstrap import ssh_actions_from
from tesserra_adapters.settings import Settings
from tesserra_core.domain.infra_ssh import load_catalog, shipped_catalog
from tesserra_core.errors import RemoteFailed, error_body


def _catalog(**action: Any) -> bytes:
    base = {
        "id": "a",
        "title": "A",
        "argv": ["echo", "{x}"],
        "parameters": [{"name": "x", "kind": "enum", "choices": ["1"]}],
    }
    return msgspec.json.encode({"version": 1, "actions": [base | action]})


@pytest.mark.parametrize(
    "action",
    [
        {"argv": ["echo", "--x={x}"]},  # a placeholder inside a word
        {"argv": ["{x}"]},  # the program itself a parameter
        {"argv": ["echo"]},  # a parameter never used
        {"argv": ["echo", "{x}", "{y}"]},  # a placeholder without a parameter
        {"parameters": [{"name": "x", "kind": "pattern", "pattern": "(", "max_length": 5}]},  # a bad pattern
        {"parameters": [{"name": "x", "kind": "pattern", "pattern": ".*", "max_length": 100000}]},  # unbounded
        {"parameters": [{"name": "x", "kind": "enum", "choices": []}]},
        {"time_limit_seconds": 0},
        {"output_cap_bytes": 1 << 30},
    ],
)
def test_templates_that_could_leak_a_parameter_are_refused(action: dict[str, Any]) -> None:
    with pytest.raises((ValueError, msgspec.ValidationError)):
        load_catalog(_catalog(**action))


def test_the_shipped_catalog_loads_and_covers_each_parameter_kind() -> None:
    catalog = shipped_catalog()
    kinds = {p.kind.value for a in catalog.actions for p in a.parameters}
    assert kinds == {"enum", "integer", "pattern"}
    assert any(a.needs_lease for a in catalog.actions)


def test_a_remote_failure_carries_its_kind_in_the_error_body() -> None:
    exc = RemoteFailed("it failed", kind="timeout", run_id="r1")
    body = error_body(exc.message, exc.code, "req", exc.details())
    assert body["code"] == "remote_failed"
    assert body["kind"] == "timeout"
    assert body["run_id"] == "r1"
    assert exc.status == 502


def test_an_operator_catalog_file_replaces_the_shipped_one(tmp_path: Path) -> None:
    path = tmp_path / "actions.json"
    path.write_bytes(_catalog(id="only_this"))
    catalog = ssh_actions_from(Settings(data_dir=tmp_path, secret_key="x" * 48, ssh_actions_file=path))
    assert [a.id for a in catalog.actions] == ["only_this"]
    assert ssh_actions_from(Settings(data_dir=tmp_path, secret_key="x" * 48)) == shipped_catalog()
    path.write_bytes(_catalog(argv=["echo", "-{x}"]))
    with pytest.raises(msgspec.ValidationError):
        ssh_actions_from(Settings(data_dir=tmp_path, secret_key="x" * 48, ssh_actions_file=path))
