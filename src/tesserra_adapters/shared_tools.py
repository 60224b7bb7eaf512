"""Shared tools and their OAuth providers, from a JSON file (re-read when it changes) or given in code.

The file (``TESSERRA_SHARED_TOOLS_FILE``, default ``<data dir>/shared_tools.json``)::

    {"providers": [{"id": "github", "name": "GitHub",
                    "authorize_url": "https://github.com/login/oauth/authorize",
                    "token_url": "https://github.com/login/oauth/access_token",
                    "userinfo_url": "https://api.github.com/user",
                    "client_id": "...", "client_secret_env": "GITHUB_CLIENT_SECRET",
                    "scopes": ["read:user", "user:email"]}],
     "tools": [{"id": "github", "name": "GitHub", "description": "...", "provider_id": "github"}]}

A client secret is given inline (``client_secret``) or, better, named by an environment variable
(``client_secret_env``). An invalid file is reported in the log and the last good one stays in use.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import msgspec

from tesserra_core.domain.shared_tools import OAuthProvider, SharedTool
from tesserra_core.domain.structs import by_name

log = logging.getLogger("tesserra.shared_tools")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


class _ProviderEntry(OAuthProvider, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A provider as the file states it: its client secret given inline or named by a variable."""

    client_secret_env: str | None = None


class _ToolEntry(SharedTool, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class _File(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    providers: list[_ProviderEntry] = []
    tools: list[_ToolEntry] = []


class InvalidSharedTools(ValueError):
    pass


def _url(value: str | None, what: str) -> None:
    if value is not None and not value.startswith(("https://", "http://")):
        raise InvalidSharedTools(f"{what} must be an http(s) URL")


def parse(raw: bytes, env: Mapping[str, str]) -> tuple[list[SharedTool], dict[str, OAuthProvider]]:
    """The tools (by id) and providers of a file; raises ``InvalidSharedTools`` naming what is wrong."""
    try:
        data = msgspec.json.decode(raw, type=_File)
    except msgspec.DecodeError as exc:
        raise InvalidSharedTools(str(exc)) from None
    providers: dict[str, OAuthProvider] = {}
    for p in data.providers:
        if not _ID.match(p.id) or p.id in providers:
            raise InvalidSharedTools(f"provider id {p.id!r} is invalid or repeated")
        for value, what in (
            (p.authorize_url, "authorize_url"),
            (p.token_url, "token_url"),
            (p.userinfo_url, "userinfo_url"),
        ):
            _url(value, f"provider {p.id}: {what}")
        secret = p.client_secret
        if p.client_secret_env is not None:
            secret = env.get(p.client_secret_env)
            if not secret:
                raise InvalidSharedTools(f"provider {p.id}: the variable {p.client_secret_env} is not set")
        providers[p.id] = by_name(OAuthProvider, p, client_secret=secret)
    tools: dict[str, SharedTool] = {}
    for entry in data.tools:
        if not _ID.match(entry.id) or entry.id in tools:
            raise InvalidSharedTools(f"tool id {entry.id!r} is invalid or repeated")
        if entry.provider_id is not None and entry.provider_id not in providers:
            raise InvalidSharedTools(f"tool {entry.id}: no provider {entry.provider_id!r}")
        tools[entry.id] = by_name(SharedTool, entry)
    return sorted(tools.values(), key=lambda t: t.id), providers


class StaticSharedToolDirectory:
    """Tools and providers given in code (library users, tests)."""

    def __init__(self, tools: Sequence[SharedTool] = (), providers: Sequence[OAuthProvider] = ()) -> None:
        self.replace(tools, providers)

    def replace(self, tools: Sequence[SharedTool], providers: Sequence[OAuthProvider]) -> None:
        self._tools = sorted(tools, key=lambda t: t.id)
        self._by_id = {t.id: t for t in self._tools}
        self._providers = {p.id: p for p in providers}

    async def tools(self) -> list[SharedTool]:
        return list(self._tools)

    async def tool(self, tool_id: str) -> SharedTool | None:
        return self._by_id.get(tool_id)

    async def provider(self, provider_id: str) -> OAuthProvider | None:
        return self._providers.get(provider_id)


class FileSharedToolDirectory(StaticSharedToolDirectory):
    """The file's tools and providers; it is read again when its modification time or size changes."""

    def __init__(self, path: Path, env: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._path = path
        self._env = os.environ if env is None else env
        self._seen: tuple[int, int] | None = None

    def _refresh(self) -> None:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            if self._seen is not None:
                self.replace([], [])
                self._seen = None
            return
        seen = (stat.st_mtime_ns, stat.st_size)
        if seen == self._seen:
            return
        self._seen = seen
        try:
            tools, providers = parse(self._path.read_bytes(), self._env)
        except (InvalidSharedTools, OSError) as exc:
            log.error("shared tools file %s is invalid, keeping the previous one: %s", self._path, exc)
            return
        self.replace(tools, list(providers.values()))

    async def tools(self) -> list[SharedTool]:
        self._refresh()
        return await super().tools()

    async def tool(self, tool_id: str) -> SharedTool | None:
        self._refresh()
        return await super().tool(tool_id)

    async def provider(self, provider_id: str) -> OAuthProvider | None:
        self._refresh()
        return await super().provider(provider_id)
