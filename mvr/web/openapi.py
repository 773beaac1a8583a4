"""OpenAPI 3.1 document and an offline Swagger UI (assets bundled, no CDN)."""

from __future__ import annotations

from typing import Any

import falcon
import msgspec
from swagger_ui_bundle import swagger_ui_path

from mvr.web.schemas import (
    MAX_IDEMPOTENCY_KEY_CHARS,
    MAX_REQUEST_BYTES,
    ErrorOut,
    QueuePageOut,
    TicketAccepted,
    TicketIn,
    TicketStatusOut,
    ticket_in_schema_extra,
)

__all__ = ["DocsResource", "OpenApiResource", "SWAGGER_ASSETS", "openapi_document"]

#: Directory of Swagger UI's JS and CSS, served under /docs/static.
SWAGGER_ASSETS = swagger_ui_path

_DOCS_HTML = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MVR API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/static/swagger-ui-standalone-preset.js"></script>
<script>
window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout"});
</script></body></html>
"""


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("ErrorOut"), description)


_UNAVAILABLE = {"503": _error("Redis is unreachable; retry shortly.")}
_UNAUTHORIZED = {"401": _error("Missing or wrong X-API-Key (when MVR_API_KEY is set).")}


def _operations() -> dict[str, Any]:
    ticket_id = {"name": "ticket_id", "in": "path", "required": True, "schema": {"type": "string"}}
    page = [
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
    ]
    idem = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY_CHARS},
        "description": "Same key and body within 24 h return the same ticket; a different body is 422.",
    }
    return {
        "/tickets": {
            "post": {
                "summary": "Submit a ticket",
                "operationId": "submitTicket",
                "parameters": [idem],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("TicketIn")}},
                },
                "responses": {
                    "202": _json(_ref("TicketAccepted"), "Accepted; triage runs in the background."),
                    "400": _error("Malformed JSON."),
                    "413": _error(f"Body larger than {MAX_REQUEST_BYTES} bytes."),
                    "415": _error("Content-Type is not application/json."),
                    "422": _error("Validation failed (field-level messages) or Idempotency-Key reuse."),
                    **_UNAUTHORIZED,
                    **_UNAVAILABLE,
                },
            }
        },
        "/tickets/{ticket_id}/status": {
            "get": {
                "summary": "Ticket status and decision",
                "operationId": "ticketStatus",
                "parameters": [ticket_id],
                "responses": {
                    "200": _json(_ref("TicketStatusOut"), "Status document."),
                    "404": _error("Unknown ticket id."),
                    **_UNAUTHORIZED,
                    **_UNAVAILABLE,
                },
            }
        },
        "/queue": {
            "get": {
                "summary": "Tickets by urgency",
                "operationId": "queue",
                "parameters": page,
                "description": "Completed tickets by S (highest first), then processing, then pending "
                "(oldest first). Taken tickets (GET /tickets/next) leave the queue.",
                "responses": {
                    "200": _json(_ref("QueuePageOut"), "One page and the total."),
                    "400": _error("Invalid limit or offset."),
                    **_UNAUTHORIZED,
                    **_UNAVAILABLE,
                },
            }
        },
        "/tickets/next": {
            "get": {
                "summary": "Take the most urgent completed ticket",
                "operationId": "nextTicket",
                "responses": {
                    "200": _json(_ref("TicketStatusOut"), "The ticket, now out of the queue."),
                    "404": _error("No completed ticket is waiting."),
                    **_UNAUTHORIZED,
                    **_UNAVAILABLE,
                },
            }
        },
        "/health": {
            "get": {
                "summary": "Liveness",
                "operationId": "health",
                "responses": {
                    "200": _json({"type": "object", "properties": {"status": {"const": "ok"}}}, "Alive.")
                },
            }
        },
        "/ready": {
            "get": {
                "summary": "Readiness",
                "operationId": "ready",
                "responses": {
                    "200": _json(
                        {"type": "object", "properties": {"status": {"const": "ready"}}}, "Redis answers."
                    ),
                    **_UNAUTHORIZED,
                    **_UNAVAILABLE,
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "operationId": "metrics",
                "responses": {
                    "200": {
                        "description": "Prometheus text format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_UNAUTHORIZED,
                },
            }
        },
    }


def openapi_document(api_key_required: bool) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of the API."""
    _, components = msgspec.json.schema_components(
        [TicketIn, TicketAccepted, TicketStatusOut, QueuePageOut, ErrorOut],
        ref_template="#/components/schemas/{name}",
    )
    components["TicketIn"].update(ticket_in_schema_extra())
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "MVR — Minimum Viable Router",
            "version": "0.1.0",
            "description": "Support-ticket router: category, urgency S, most urgent first.",
        },
        "paths": _operations(),
        "components": {"schemas": components},
    }
    if api_key_required:
        document["components"]["securitySchemes"] = {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}
        }
        document["security"] = [{"ApiKey": []}]
        for path in ("/health",):
            for operation in document["paths"][path].values():
                operation["security"] = []
    return document


class OpenApiResource:
    """GET /openapi.json."""

    def __init__(self, api_key_required: bool) -> None:
        self._body = msgspec.json.encode(openapi_document(api_key_required))

    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = self._body
        resp.content_type = falcon.MEDIA_JSON


class DocsResource:
    """GET /docs: Swagger UI page whose assets come from this server."""

    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = _DOCS_HTML
        resp.content_type = falcon.MEDIA_HTML
