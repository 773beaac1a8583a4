"""OpenAPI 3.1 document of the API (Swagger UI renders it at /docs, see ``mvr.web.pages``)."""

from __future__ import annotations

from typing import Any

import falcon
import msgspec

from mvr.ticket import TicketStatus, TicketStatusDocument
from mvr.web.head import HeadLikeGet
from mvr.web.schemas import (
    MAX_IDEMPOTENCY_KEY_CHARS,
    MAX_REQUEST_BYTES,
    CorrectionIn,
    ErrorOut,
    QueuePageOut,
    TicketAccepted,
    TicketIn,
    ticket_in_schema_extra,
)

__all__ = ["OpenApiResource", "openapi_document"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("ErrorOut"), description)


_UNAVAILABLE = {"503": _error("Redis is unreachable; retry shortly.")}
_UNAUTHORIZED = {"401": _error("Missing or wrong X-API-Key (when MVR_API_KEY is set).")}
#: What the server itself (``mvr.web.server``) answers to any request, before the API sees it.
_SERVER_REFUSALS = {
    "408": _error("The request did not arrive in full within MVR_REQUEST_TIMEOUT_S."),
    "414": _error("The request target (path and query) is too long."),
}
_TICKET_ID = {"name": "ticket_id", "in": "path", "required": True, "schema": {"type": "string"}}

#: How a ticket moves, for the API description.
LIFECYCLE = (
    "A ticket's life: `pending → completed | failed` (MVR; `processing` in between only for a "
    "ticket a worker had to read first: a re-sent message, or RabbitMQ as the broker), then for people "
    "`completed → taken` (GET /tickets/next) `→ resolved` (POST …/resolve), or "
    "`taken → completed` (POST …/requeue, or the take lease `MVR_TAKE_TIMEOUT_S` running out). "
    "A correction (POST …/category) is allowed on completed, taken and resolved tickets. "
    "A transition the ticket's status does not allow is a 409 naming that status; the status "
    "document's `actions` lists what is allowed now. Every GET also answers HEAD "
    "(HEAD /tickets/next takes nothing: 200 when a ticket is waiting, else 404)."
)


def _action(
    summary: str, operation_id: str, allowed: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One POST /tickets/{id}/{action} operation: its status document, 404, 409 (and 4xx of a body)."""
    operation: dict[str, Any] = {
        "summary": summary,
        "operationId": operation_id,
        "description": f"Allowed when the ticket is {allowed}; otherwise 409.",
        "parameters": [_TICKET_ID],
        "responses": {
            "200": _json(_ref("TicketStatusDocument"), "The ticket's status document after the change."),
            "404": _error("Unknown ticket id."),
            "409": _error(f"The ticket is not {allowed}; the detail names its status."),
            **_UNAUTHORIZED,
            **_UNAVAILABLE,
        },
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        operation["responses"].update(
            {
                "400": _error("Malformed JSON or an empty body."),
                "413": _error(f"Body larger than {MAX_REQUEST_BYTES} bytes."),
                "415": _error("Content-Type is not application/json."),
                "422": _error("Validation failed, e.g. an unknown category."),
            }
        )
    return {"post": operation}


#: The body "Try it out" starts from (Swagger UI would fill every field with "", which is a 422).
_TICKET_EXAMPLE = {
    "subject": "Cannot log in since this morning",
    "body": "The app says my password is wrong although I reset it twice. Please help, it is urgent.",
}


def _operations() -> dict[str, Any]:
    ticket_id = _TICKET_ID
    page = [
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
        {
            "name": "status",
            "in": "query",
            "schema": {"enum": list(TicketStatus)},
            "description": "Only tickets in this status "
            "(taken oldest first, resolved and failed newest first).",
        },
        {
            "name": "category",
            "in": "query",
            "schema": {"type": "string"},
            "description": "Only tickets of this category (a person's correction wins over MVR's).",
        },
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
                    "content": {"application/json": {"schema": _ref("TicketIn"), "example": _TICKET_EXAMPLE}},
                },
                "responses": {
                    "202": _json(_ref("TicketAccepted"), "Accepted; triage runs in the background."),
                    "400": _error("Malformed JSON or an empty body."),
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
                    "200": _json(_ref("TicketStatusDocument"), "Status document."),
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
                "description": "Without `status`: completed tickets by S (highest first, oldest first "
                "among equal S), then processing, then pending (oldest first). Taken tickets "
                "(GET /tickets/next) leave this list; `?status=taken` lists them.",
                "responses": {
                    "200": _json(_ref("QueuePageOut"), "One page and the total."),
                    "400": _error("Invalid limit, offset or status."),
                    **_UNAUTHORIZED,
                    **_UNAVAILABLE,
                },
            }
        },
        "/tickets/next": {
            "get": {
                "summary": "Take the most urgent completed ticket",
                "operationId": "nextTicket",
                "description": "The completed ticket with the highest S (oldest first among equal S) "
                "becomes `taken`; two callers never get the same one. It stays taken until resolved or "
                "requeued, or until its lease (`MVR_TAKE_TIMEOUT_S`, when set) runs out.",
                "responses": {
                    "200": _json(_ref("TicketStatusDocument"), "The ticket, now taken."),
                    "404": _error("No completed ticket is waiting."),
                    **_UNAUTHORIZED,
                    **_UNAVAILABLE,
                },
            }
        },
        "/tickets/{ticket_id}/resolve": _action("Resolve a taken ticket", "resolveTicket", "taken"),
        "/tickets/{ticket_id}/requeue": _action(
            "Put a taken ticket back into the ready queue", "requeueTicket", "taken"
        ),
        "/tickets/{ticket_id}/category": _action(
            "Correct a ticket's category (and urgency)",
            "correctTicket",
            "completed, taken or resolved",
            _ref("CorrectionIn"),
        ),
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


def openapi_document(api_key_required: bool, categories: tuple[str, ...]) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of the API (``categories``: what a correction may name)."""
    _, components = msgspec.json.schema_components(
        [TicketIn, TicketAccepted, TicketStatusDocument, QueuePageOut, CorrectionIn, ErrorOut],
        ref_template="#/components/schemas/{name}",
    )
    components["TicketIn"].update(ticket_in_schema_extra())
    components["CorrectionIn"]["properties"]["category"]["enum"] = list(categories)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "MVR — Minimum Viable Router",
            "version": "0.1.0",
            "description": "Support-ticket router: category, urgency S, most urgent first.\n\n" + LIFECYCLE,
        },
        "paths": _with_server_refusals(_operations()),
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


def _with_server_refusals(paths: dict[str, Any]) -> dict[str, Any]:
    for operations in paths.values():
        for operation in operations.values():
            operation["responses"].update(_SERVER_REFUSALS)
    return paths


class OpenApiResource(HeadLikeGet):
    """GET /openapi.json."""

    def __init__(self, api_key_required: bool, categories: tuple[str, ...]) -> None:
        self._body = msgspec.json.encode(openapi_document(api_key_required, categories))

    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = self._body
        resp.content_type = falcon.MEDIA_JSON
