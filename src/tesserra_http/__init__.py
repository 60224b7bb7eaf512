"""The Litestar driver: REST under /api, /health and /status, and the /mcp mount.

``create_app`` is imported lazily, so that shell commands that serve nothing (``tesserra db
upgrade``, ``admin create``, ``keys create``) do not pay for importing the web and MCP stacks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tesserra_http.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from tesserra_http.app import create_app

        return create_app
    raise AttributeError(name)
