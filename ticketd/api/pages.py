"""The browser pages: plain HTML from ``static/`` at clean URLs, and the static assets."""

from __future__ import annotations

from aiohttp import web

from .. import errors
from ..paths import bundled

routes = web.RouteTableDef()

STATIC = bundled("static", "ticketd.js")


def page_response(filename: str, status: int = 200) -> web.StreamResponse:
    path = STATIC / filename
    if not path.is_file():
        raise errors.NotFound("Page not found")
    # Pages are tiny and change with deploys: always revalidate.
    return web.FileResponse(path, status=status, headers={"Cache-Control": "no-cache",
                                                          "Content-Type": "text/html; charset=utf-8"})


def _page(filename: str):
    async def handler(request: web.Request) -> web.StreamResponse:
        return page_response(filename)
    handler.__name__ = f"page_{filename.removesuffix('.html')}"
    handler.__doc__ = None  # keep the pages out of the OpenAPI description
    return handler


def wants_page(request: web.Request) -> bool:
    """A browser asking for a page (not the API, not an asset): errors answer in HTML."""
    return (not request.path.startswith(("/api/", "/static/"))
            and "text/html" in request.headers.get("Accept", ""))


def not_found_page() -> web.StreamResponse:
    return page_response("404.html", status=404)


routes.get("/")(_page("index.html"))
routes.get("/login")(_page("login.html"))
routes.get("/admin")(_page("admin.html"))
routes.get("/events/{eventId}")(_page("event.html"))
routes.get("/events/{eventId}/queue")(_page("queue.html"))
routes.get("/events/{eventId}/seats")(_page("seats.html"))
routes.static("/static", STATIC, name="static", append_version=False)
