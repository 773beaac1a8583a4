"""Map MVR errors to JSON HTTP answers ``{"error": ..., "detail": ...}``."""

from __future__ import annotations

from typing import Any

import falcon
import falcon.asgi
import msgspec
from falcon.asgi import Request, Response

from mvr.errors import (
    IdempotencyConflict,
    StoreUnavailable,
    TicketNotFound,
    TransitionNotAllowed,
    ValidationFailed,
)
from mvr.ticket import is_ticket_id

__all__ = ["install_error_handlers"]


def install_error_handlers(app: falcon.asgi.App[Any, Any]) -> None:
    """Make every error answer JSON and map MVR's exceptions to statuses."""
    app.set_error_serializer(_serialize)
    app.add_error_handler(msgspec.DecodeError, _malformed_json)
    app.add_error_handler(ValidationFailed, _validation_failed)
    app.add_error_handler(IdempotencyConflict, _idempotency_conflict)
    app.add_error_handler(TicketNotFound, _not_found)
    app.add_error_handler(TransitionNotAllowed, _conflict)
    app.add_error_handler(StoreUnavailable, _store_unavailable)


def _serialize(req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError) -> None:
    detail: Any = ex.description if ex.description is not None else ex.title
    resp.data = msgspec.json.encode({"error": ex.title, "detail": detail})
    resp.content_type = falcon.MEDIA_JSON


def _answer(resp: Response, status: str, error: str, detail: Any) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = msgspec.json.encode({"error": error, "detail": detail})


async def _malformed_json(
    req: Request, resp: Response, ex: msgspec.DecodeError, params: dict[str, Any]
) -> None:
    _answer(resp, falcon.HTTP_400, "Malformed JSON", str(ex))


async def _validation_failed(
    req: Request, resp: Response, ex: ValidationFailed, params: dict[str, Any]
) -> None:
    _answer(resp, falcon.HTTP_422, "Validation failed", ex.fields)


async def _idempotency_conflict(
    req: Request, resp: Response, ex: IdempotencyConflict, params: dict[str, Any]
) -> None:
    _answer(resp, falcon.HTTP_422, "Idempotency-Key reused", str(ex))


async def _not_found(req: Request, resp: Response, ex: TicketNotFound, params: dict[str, Any]) -> None:
    # Echo only what can be an id: a 10 KB bogus id must not come back in the answer.
    given = str(ex)
    detail = f"no ticket with id {given}" if is_ticket_id(given) else "no ticket with that id"
    _answer(resp, falcon.HTTP_404, "Not found", detail)


async def _conflict(req: Request, resp: Response, ex: TransitionNotAllowed, params: dict[str, Any]) -> None:
    _answer(resp, falcon.HTTP_409, "Conflict", str(ex))


async def _store_unavailable(
    req: Request, resp: Response, ex: StoreUnavailable, params: dict[str, Any]
) -> None:
    resp.set_header("Retry-After", "1")
    _answer(
        resp, falcon.HTTP_503, "Service unavailable", "ticket store (Redis) is unreachable; retry shortly"
    )
