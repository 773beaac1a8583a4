"""HTTP resources: tickets, status, queue, next, health and readiness."""

from __future__ import annotations

from typing import TYPE_CHECKING

import falcon
import msgspec

from mvr.web.metrics import TICKETS_ACCEPTED
from mvr.web.schemas import MAX_REQUEST_BYTES, parse_idempotency_key, parse_ticket

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from falcon.asgi import Request, Response

    from mvr.store import AsyncTicketStore

__all__ = [
    "HealthResource",
    "NextTicketResource",
    "QueueResource",
    "ReadyResource",
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
        _send_json(
            resp, {"ticket_id": ticket_id, "status": "accepted", "status_url": status_url}, falcon.HTTP_202
        )


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
    return b"".join(chunks)


def _too_large() -> falcon.HTTPContentTooLarge:
    return falcon.HTTPContentTooLarge(
        title="Request too large", description=f"request body must be at most {MAX_REQUEST_BYTES} bytes"
    )


class TicketStatusResource:
    """GET /tickets/{ticket_id}/status."""

    def __init__(self, store: AsyncTicketStore) -> None:
        self._store = store

    async def on_get(self, req: Request, resp: Response, ticket_id: str) -> None:
        _send_json(resp, await self._store.status(ticket_id))


class QueueResource:
    """GET /queue: completed by S desc, then processing, then pending (oldest first)."""

    def __init__(self, store: AsyncTicketStore) -> None:
        self._store = store

    async def on_get(self, req: Request, resp: Response) -> None:
        limit = req.get_param_as_int("limit", min_value=1, max_value=MAX_PAGE, default=DEFAULT_PAGE)
        offset = req.get_param_as_int("offset", min_value=0, default=0)
        page = await self._store.queue_page(offset, limit)
        _send_json(resp, {"items": page.items, "total": page.total, "limit": limit, "offset": offset})


class NextTicketResource:
    """GET /tickets/next: take the completed ticket with the highest S."""

    def __init__(self, store: AsyncTicketStore) -> None:
        self._store = store

    async def on_get(self, req: Request, resp: Response) -> None:
        ticket = await self._store.pop_next()
        if ticket is None:
            raise falcon.HTTPNotFound(title="Not found", description="no completed ticket is waiting")
        _send_json(resp, ticket)


class HealthResource:
    """GET /health: liveness, no Redis call."""

    async def on_get(self, req: Request, resp: Response) -> None:
        _send_json(resp, {"status": "ok"})


class ReadyResource:
    """GET /ready: 200 when Redis answers, else 503."""

    def __init__(self, store: AsyncTicketStore) -> None:
        self._store = store

    async def on_get(self, req: Request, resp: Response) -> None:
        await self._store.ping()
        _send_json(resp, {"status": "ready"})
