"""Peer (a) ``bare``: Falcon ASGI that parses the ticket JSON and answers 202, no I/O (the ceiling).

Served like MVR's API: ``gunicorn 'bare:create_app()' -k uvicorn_worker.UvicornWorker``.
"""

from __future__ import annotations

import uuid

import falcon
import falcon.asgi
import msgspec


class Tickets:
    """POST /tickets: decode the JSON body, answer 202 with a new id."""

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        msgspec.json.decode(await req.stream.read())
        answer_accepted(resp, uuid.uuid4().hex)


def answer_accepted(resp: falcon.asgi.Response, ticket_id: str) -> None:
    """Answer 202 with the ticket's id, as MVR's API does."""
    resp.status = falcon.HTTP_202
    resp.content_type = falcon.MEDIA_JSON
    resp.data = msgspec.json.encode({"ticket_id": ticket_id, "status": "accepted"})


class Health:
    """GET /health."""

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.data = b'{"status":"ok"}'


def create_app() -> falcon.asgi.App:
    """The bare app."""
    app = falcon.asgi.App()
    app.add_route("/tickets", Tickets())
    app.add_route("/health", Health())
    return app
