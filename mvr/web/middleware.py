"""Falcon middleware: API key check and request metrics."""

from __future__ import annotations

import hmac
import time
from typing import Any

import falcon

from mvr.web.metrics import HTTP_LATENCY, HTTP_REQUESTS

__all__ = ["ApiKeyMiddleware", "MetricsMiddleware", "PUBLIC_PATHS"]

#: Paths anyone may read, even when ``MVR_API_KEY`` is set.
PUBLIC_PATHS = ("/health", "/docs", "/openapi.json")


class ApiKeyMiddleware:
    """Require ``X-API-Key`` on every route but the public ones."""

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key.encode()

    async def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.path.startswith(PUBLIC_PATHS):
            return
        given = (req.get_header("X-API-Key") or "").encode()
        if not hmac.compare_digest(given, self._api_key):
            raise falcon.HTTPUnauthorized(
                title="Unauthorized",
                description="missing or invalid X-API-Key header",
                challenges=["ApiKey"],
            )


class MetricsMiddleware:
    """Count answers and time them, by route template."""

    async def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.perf_counter()

    async def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        route = req.uri_template or "unmatched"
        HTTP_REQUESTS.labels(req.method, route, resp.status_code).inc()
        started = req.context.get("started")
        if started is not None:
            HTTP_LATENCY.labels(route).observe(time.perf_counter() - started)
