"""Settings from the environment: what a fresh machine gets, and what the server may rely on."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tesserra_adapters.bootstrap import running
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


async def test_an_existing_data_dir_and_a_database_outside_it_are_narrowed_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data dir and a database an earlier version left world-readable (and the default database,
    ``./tesserra.db``, which lies outside the data dir) are the server user's alone once it starts."""
    monkeypatch.chdir(tmp_path)
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    settings = Settings.from_env({"TESSERRA_DATA_DIR": str(data_dir), "TESSERRA_SECRET_KEY": "k" * 40})
    async with running(settings):
        pass
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "tesserra.db").stat().st_mode) == 0o600
