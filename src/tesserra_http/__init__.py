"""The Litestar driver: REST under /api, /health and /status, and the /mcp mount."""

from tesserra_http.app import create_app

__all__ = ["create_app"]
