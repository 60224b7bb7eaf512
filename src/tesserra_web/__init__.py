"""The web console driver: pages over the use-case facade, mounted at /console by the HTTP server.

Public surface: ``ConsoleEndpoint`` (an ASGI app to mount) and ``CONSOLE_PATH``. Neither imports the
template engine until the first page is asked for.
"""

from __future__ import annotations

from tesserra_web.endpoint import CONSOLE_PATH, ConsoleEndpoint

__all__ = ["CONSOLE_PATH", "ConsoleEndpoint"]
