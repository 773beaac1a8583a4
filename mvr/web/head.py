"""HEAD wherever GET works: a mixin for resources whose GET changes nothing."""

from __future__ import annotations

from typing import Any

__all__ = ["HeadLikeGet"]


class HeadLikeGet:
    """Answer HEAD by running GET; Falcon sends its headers (with Content-Length), no body."""

    async def on_head(self, req: Any, resp: Any, **params: str) -> None:
        await self.on_get(req, resp, **params)  # type: ignore[attr-defined]
