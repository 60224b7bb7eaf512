"""The console's own static files, read once from the package (no third-party origin, ever)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from litestar import Response, get
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

ASSETS = {
    "htmx.min.js": "text/javascript",
    "console.js": "text/javascript",
    "chat.js": "text/javascript",
    "console.css": "text/css",
}
"""The files served from /console/static; htmx.min.js is htmx 2.0.4 as published (its sha256 is tested)."""


@cache
def asset(name: str) -> bytes:
    return (resources.files("tesserra_web") / "static" / name).read_bytes()


def routes() -> list[HTTPRouteHandler]:
    @get("/static/{name:str}", sync_to_thread=False)
    def static(name: FromPath[str]) -> Response[bytes]:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise NotFoundException()
        return Response(
            asset(name),
            media_type=f"{media_type}; charset=utf-8",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    return [static]
