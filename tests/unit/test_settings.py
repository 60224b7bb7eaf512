"""Settings from the environment: what a fresh machine gets, and what the server may rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from tesserra_adapters.settings import Settings


def test_the_default_data_dir_is_absolute_so_workloads_never_depend_on_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({}).data_dir == tmp_path / "tesserra-data"


def test_a_relative_data_dir_is_made_absolute_and_normalized(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"TESSERRA_DATA_DIR": "a/../data/./here"})
    assert settings.data_dir == tmp_path / "data" / "here"
    assert settings.data_dir.is_absolute()
