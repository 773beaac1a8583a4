"""Falcon middleware: API key check and request metrics."""

from __future__ import annotations

import hmac
import time
from typing import Any

import falcon

from mvr.web.metrics import HTTP_LATENCY, HTTP_REQUESTS
from mvr.web.pages import STATIC_PREFIX

__all__ = ["ApiKeyMiddleware", "MetricsMiddleware", "PUBLIC_PATHS"]

#: Paths anyone may read, even when ``MVR_API_KEY`` is set: liveness, the API's description and
#: the browser pages with their static files (they hold no data; the pages ask for the key).
PUBLIC_PATHS = frozenset({"/", "/health", "/docs", "/openapi.json", "/ui"})
_PUBLIC_PREFIX = STATIC_PREFIX + "/"


class ApiKeyMiddleware:
    """Require ``X-API-Key`` on every route but the public ones."""

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key.encode()

    async def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.path in PUBLIC_PATHS or req.path.startswith(_PUBLIC_PREFIX):
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

    def __init__(self) -> None:
        # PERF: labelled children cached per key; .labels() costs a lock and a dict build
        # on every call (bench_intake, tuning 1).
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._latencies: dict[str, Any] = {}

    async def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.perf_counter()

    async def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        route = req.uri_template or "unmatched"
        key = (req.method, route, resp.status_code)
        counter = self._counters.get(key) or self._counters.setdefault(key, HTTP_REQUESTS.labels(*key))
        counter.inc()
        started = req.context.get("started")
        if started is not None:
            latency = self._latencies.get(route) or self._latencies.setdefault(
                route, HTTP_LATENCY.labels(route)
            )
            latency.observe(time.perf_counter() - started)
