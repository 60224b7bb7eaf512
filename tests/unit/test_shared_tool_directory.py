"""The shared tools file: parsed strictly, secrets from the environment, re-read on change, never half-applied."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from tesserra_adapters.shared_tools import FileSharedToolDirectory, InvalidSharedTools, parse

PROVIDER: dict[str, Any] = {
    "id": "gh",
    "name": "GitHub",
    "authorize_url": "https://github.com/login/oauth/authorize",
    "token_url": "https://github.com/login/oauth/access_token",
    "client_id": "abc",
    "client_secret_env": "GH_SECRET",
    "scopes": ["read:user"],
}


def write(path: Path, data: object) -> None:
    path.write_text(json.dumps(data))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a visible change, even within a tick


def test_parse_reads_secrets_from_the_environment() -> None:
    raw = json.dumps({"providers": [PROVIDER], "tools": [{"id": "issues", "name": "Issues", "provider_id": "gh"}]})
    tools, providers = parse(raw.encode(), {"GH_SECRET": "s3cret"})
    assert [t.id for t in tools] == ["issues"]
    assert providers["gh"].client_secret == "s3cret"
    assert providers["gh"].scopes == ("read:user",)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"providers": [PROVIDER]}, "GH_SECRET is not set"),
        ({"providers": [{**PROVIDER, "token_url": "ftp://x"}]}, "token_url"),
        ({"providers": [PROVIDER, PROVIDER]}, "repeated"),
        ({"providers": [{**PROVIDER, "id": "Bad Id"}]}, "invalid"),
        ({"tools": [{"id": "t", "name": "T", "provider_id": "missing"}]}, "no provider"),
        ({"tools": [{"id": "t", "name": "T", "extra": 1}]}, "unknown field"),
        ({"tools": "nope"}, "Expected `array`"),
    ],
)
def test_parse_refuses_bad_files(data: object, match: str) -> None:
    with pytest.raises(InvalidSharedTools, match=match):
        parse(json.dumps(data).encode(), {"GH_SECRET": "s"} if match != "GH_SECRET is not set" else {})


async def test_file_is_reread_on_change_and_a_bad_edit_keeps_the_last_good_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "shared_tools.json"
    directory = FileSharedToolDirectory(path, env={"GH_SECRET": "s"})
    assert await directory.tools() == []  # no file: no tools
    write(path, {"providers": [PROVIDER], "tools": [{"id": "a", "name": "A", "provider_id": "gh"}]})
    assert [t.id for t in await directory.tools()] == ["a"]
    write(path, {"providers": [PROVIDER], "tools": [{"id": "b", "name": "B"}, {"id": "a", "name": "A"}]})
    assert [t.id for t in await directory.tools()] == ["a", "b"]
    with caplog.at_level(logging.ERROR, logger="tesserra.shared_tools"):
        write(path, {"tools": [{"id": "c", "name": "C", "provider_id": "nowhere"}]})
        assert [t.id for t in await directory.tools()] == ["a", "b"]
    assert "keeping the previous one" in caplog.text
    assert "s" not in {r.getMessage() for r in caplog.records}
    assert (await directory.provider("gh")) is not None
    path.unlink()
    assert await directory.tools() == []
    assert await directory.tool("a") is None
