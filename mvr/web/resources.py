"""HTTP resources: tickets, status, queue, next, lifecycle actions, health and readiness.

Every resource that answers GET answers HEAD the same way without a body
(``HeadLikeGet``); HEAD /tickets/next only says whether a ticket is waiting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import falcon
import msgspec

from mvr.ticket import TicketStatus
from mvr.web.head import HeadLikeGet
from mvr.web.metrics import CORRECTIONS, TICKETS_ACCEPTED
from mvr.web.schemas import (
    MAX_REQUEST_BYTES,
    QueuePageOut,
    TicketAccepted,
    parse_correction,
    parse_idempotency_key,
    parse_ticket,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from falcon.asgi import Request, Response

    from mvr.store import AsyncTicketStore

__all__ = [
    "CorrectionResource",
    "HealthResource",
    "NextTicketResource",
    "QueueResource",
    "ReadyResource",
    "ResolveResource",
    "RequeueResource",
    "TicketStatusResource",
    "TicketsResource",
]

#: Largest page /queue serves.
MAX_PAGE = 100
#: Page size when ``limit`` is not given.
DEFAULT_PAGE = 20


def _send_json(resp: Response, payload: object, status: str = falcon.HTTP_200) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = msgspec.json.encode(payload)


class TicketsResource:
    """POST /tickets: validate, store and enqueue a ticket in one Redis call.

    Args:
        store: The ticket store.
        send_triage: Publishes the triage message when the broker is not Redis.
    """

    def __init__(
        self, store: AsyncTicketStore, send_triage: Callable[[str], Awaitable[None]] | None = None
    ) -> None:
        self._store = store
        self._send_triage = send_triage

    async def on_post(self, req: Request, resp: Response) -> None:
        _require_json(req)
        idempotency_key = parse_idempotency_key(req.get_header("Idempotency-Key"))
        fields = parse_ticket(await _read_body(req))
        ticket_id, created = await self._store.accept(fields, idempotency_key)
        if created:
            TICKETS_ACCEPTED.inc()
            if self._send_triage is not None:
                await self._send_triage(ticket_id)
        status_url = f"/tickets/{ticket_id}/status"
        resp.set_header("Location", status_url)
        _send_json(resp, TicketAccepted(ticket_id, "accepted", status_url), falcon.HTTP_202)


def _require_json(req: Request) -> None:
    content_type = (req.content_type or "").split(";", 1)[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise falcon.HTTPUnsupportedMediaType(
            title="Unsupported media type", description="Content-Type must be application/json"
        )
    if (req.content_length or 0) > MAX_REQUEST_BYTES:
        raise _too_large()


async def _read_body(req: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await req.stream.read(MAX_REQUEST_BYTES + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise _too_large()
    body = b"".join(chunks)
    if not body.strip():
        raise falcon.HTTPBadRequest(
            title="Empty body", description="the request body is empty; send a JSON object"
        )
    return body


def _too_large() -> falcon.HTTPContentTooLarge:
    return falcon.HTTPContentTooLarge(
        title="Request too large", description=f"request body must be at most {MAX_REQUEST_BYTES} bytes"
    )


class TicketStatusResource(HeadLikeGet):
    """GET /tickets/{ticket_id}/status."""

    def __init__(self, store: AsyncTicketStore) -> None:
        self._store = store

    async def on_get(self, req: Request, resp: Response, ticket_id: str) -> None:
        _send_json(resp, await self._store.status(ticket_id))


class QueueResource(HeadLikeGet):
    """GET /queue: completed by S desc, then processing, then pending; filters by status, category."""

    def __init__(self, store: AsyncTicketStore) -> None:
        self._store = store

    async def on_get(self, req: Request, resp: Response) -> None:
        limit = req.get_param_as_int("limit", min_value=1, max_value=MAX_PAGE, default=DEFAULT_PAGE)
        offset = req.get_param_as_int("offset", min_value=0, default=0)
        status = req.get_param("status")
        if status is not None and status not in STATUSES:
            raise falcon.HTTPInvalidParam(f"must be one of {', '.join(STATUSES)}", "status")
        category = req.get_param("category")
        page = await self._store.queue_page(offset, limit, status, category)
        _send_json(resp, QueuePageOut(page.items, page.total, limit, offset))


#: Values of /queue's ``status`` filter.
STATUSES = tuple(TicketStatus)


class NextTicketResource:
    """GET /tickets/next: take the completed ticket with the highest S (it becomes ``taken``)."""

    def __init__(self, store: AsyncTicketStore) -> None:
        self._store = store

    async def on_get(self, req: Request, resp: Response) -> None:
        ticket = await self._store.pop_next()
        if ticket is None:
            raise _nothing_waiting()
        _send_json(resp, ticket)

    async def on_head(self, req: Request, resp: Response) -> None:
        if not await self._store.peek_next():
            raise _nothing_waiting()
        resp.content_type = falcon.MEDIA_JSON


def _nothing_waiting() -> falcon.HTTPNotFound:
    return falcon.HTTPNotFound(title="Not found", description="no completed ticket is waiting")


class ResolveResource:
    """POST /tickets/{ticket_id}/resolve: taken → resolved."""

    def __init__(self, store: AsyncTicketStore) -> None:
        self._store = store

    async def on_post(self, req: Request, resp: Response, ticket_id: str) -> None:
        _send_json(resp, await self._store.resolve(ticket_id))


class RequeueResource:
    """POST /tickets/{ticket_id}/requeue: taken → completed, back into the ready queue."""

    def __init__(self, store: AsyncTicketStore) -> None:
        self._store = store

    async def on_post(self, req: Request, resp: Response, ticket_id: str) -> None:
        _send_json(resp, await self._store.requeue(ticket_id))


class CorrectionResource:
    """POST /tickets/{ticket_id}/category: record a person's category (and urgency).

    Args:
        store: The ticket store.
        categories: The category names a correction may use.
    """

    def __init__(self, store: AsyncTicketStore, categories: tuple[str, ...]) -> None:
        self._store = store
        self._categories = categories

    async def on_post(self, req: Request, resp: Response, ticket_id: str) -> None:
        _require_json(req)
        category, urgency_score = parse_correction(await _read_body(req), self._categories)
        doc = await self._store.correct(ticket_id, category, urgency_score)
        CORRECTIONS.labels(doc.category, category).inc()
        _send_json(resp, doc)


class HealthResource(HeadLikeGet):
    """GET /health: liveness, no Redis call."""

    async def on_get(self, req: Request, resp: Response) -> None:
        _send_json(resp, {"status": "ok"})


class ReadyResource(HeadLikeGet):
    """GET /ready: 200 when Redis answers, else 503."""

    def __init__(self, store: AsyncTicketStore) -> None:
        self._store = store

    async def on_get(self, req: Request, resp: Response) -> None:
        await self._store.ping()
        _send_json(resp, {"status": "ready"})
