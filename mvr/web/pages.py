"""Browser pages: the queue page, Swagger UI and their static files (no build step, no CDN)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import falcon

from mvr.web.head import HeadLikeGet

if TYPE_CHECKING:
    from falcon.asgi import Request, Response

__all__ = ["STATIC_DIR", "STATIC_PREFIX", "HtmlPageResource", "RootResource"]

#: Directory of the pages and their vendored scripts (package data).
STATIC_DIR = Path(__file__).resolve().parent / "static"
#: URL prefix the files of ``STATIC_DIR`` are served under.
STATIC_PREFIX = "/static"
#: Where ``GET /`` sends a browser.
HOME = "/ui"


class HtmlPageResource(HeadLikeGet):
    """GET one HTML file of ``STATIC_DIR``, read once at start.

    Args:
        name: File name relative to ``STATIC_DIR``.
    """

    def __init__(self, name: str) -> None:
        self._body = (STATIC_DIR / name).read_bytes()

    async def on_get(self, req: Request, resp: Response) -> None:
        resp.data = self._body
        resp.content_type = falcon.MEDIA_HTML


class RootResource(HeadLikeGet):
    """GET /: redirect to the queue page."""

    async def on_get(self, req: Request, resp: Response) -> None:
        raise falcon.HTTPFound(HOME)
