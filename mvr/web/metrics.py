"""Prometheus metrics of the API process.

Under gunicorn, ``mvr api`` sets ``PROMETHEUS_MULTIPROC_DIR`` so that /metrics
sums every worker process (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import falcon
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from mvr.web.head import HeadLikeGet

__all__ = ["CORRECTIONS", "HTTP_LATENCY", "HTTP_REQUESTS", "TICKETS_ACCEPTED", "MetricsResource"]

#: Requests answered, by route template, method and status code.
HTTP_REQUESTS = Counter("mvr_http_requests_total", "HTTP requests answered.", ["method", "route", "status"])
#: Time spent answering, in seconds, by route template.
HTTP_LATENCY = Histogram(
    "mvr_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
#: Tickets stored and enqueued (idempotent repeats not counted).
TICKETS_ACCEPTED = Counter("mvr_tickets_accepted_total", "Tickets accepted by the API.")
#: Corrections people recorded, by MVR's category and the person's.
CORRECTIONS = Counter(
    "mvr_corrections_total", "Category corrections recorded by people.", ["predicted", "corrected"]
)


class MetricsResource(HeadLikeGet):
    """GET /metrics in Prometheus text format."""

    def __init__(self, multiproc_dir: str | None) -> None:
        self._multiproc_dir = multiproc_dir

    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self._multiproc_dir:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=self._multiproc_dir)  # type: ignore[no-untyped-call]
            resp.data = generate_latest(registry)
        else:
            resp.data = generate_latest()
        resp.content_type = CONTENT_TYPE_LATEST
