"""The Falcon ASGI application: ``create_app()`` is what gunicorn serves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import falcon.asgi

from mvr.categories import load_categories
from mvr.config import Settings, load_settings
from mvr.store import AsyncTicketStore, connect_async
from mvr.web.errors import install_error_handlers
from mvr.web.metrics import MetricsResource
from mvr.web.middleware import ApiKeyMiddleware, MetricsMiddleware
from mvr.web.openapi import OpenApiResource
from mvr.web.pages import STATIC_DIR, STATIC_PREFIX, HtmlPageResource, RootResource
from mvr.web.resources import (
    CorrectionResource,
    HealthResource,
    NextTicketResource,
    QueueResource,
    ReadyResource,
    RequeueResource,
    ResolveResource,
    TicketsResource,
    TicketStatusResource,
)

__all__ = ["create_app"]


def _triage_sender(settings: Settings) -> Callable[[str], Awaitable[None]] | None:
    """Return the RabbitMQ publisher when MVR_BROKER_URL is set (Redis enqueues in accept.lua)."""
    if not settings.broker_url:
        return None
    from mvr.queues import RabbitSender

    return RabbitSender(settings.broker_url).send_triage


def create_app(settings: Settings | None = None) -> falcon.asgi.App[Any, Any]:
    """Build the API for ``settings`` (default: from the environment)."""
    settings = settings or load_settings()
    middleware: list[Any] = [MetricsMiddleware()]
    if settings.api_key:
        middleware.append(ApiKeyMiddleware(settings.api_key))
    app = falcon.asgi.App(middleware=middleware)
    app.req_options.strip_url_path_trailing_slash = True
    install_error_handlers(app)
    store = AsyncTicketStore(connect_async(settings), settings)
    app.add_route("/tickets", TicketsResource(store, _triage_sender(settings)))
    app.add_route("/tickets/next", NextTicketResource(store))
    app.add_route("/tickets/{ticket_id}/status", TicketStatusResource(store))
    app.add_route("/tickets/{ticket_id}/resolve", ResolveResource(store))
    app.add_route("/tickets/{ticket_id}/requeue", RequeueResource(store))
    categories = tuple(c.name for c in load_categories(settings.categories_file))
    app.add_route("/tickets/{ticket_id}/category", CorrectionResource(store, categories))
    app.add_route("/queue", QueueResource(store))
    app.add_route("/health", HealthResource())
    app.add_route("/ready", ReadyResource(store))
    app.add_route("/metrics", MetricsResource(settings.prometheus_multiproc_dir))
    app.add_route("/openapi.json", OpenApiResource(bool(settings.api_key), categories))
    app.add_route("/docs", HtmlPageResource("docs.html"))
    app.add_route("/ui", HtmlPageResource("ui/index.html"))
    app.add_route("/", RootResource())
    app.add_static_route(STATIC_PREFIX, str(STATIC_DIR))
    return app
