"""Peer (b) ``floor``: ``bare`` plus one ``HSET`` of the ticket, the least any durable accept can do.

Served like MVR's API: ``gunicorn 'floor:create_app()' -k uvicorn_worker.UvicornWorker``, with
``bare`` importable (``--pythonpath`` of this directory); ``REDIS_URL`` names its Redis.
"""

from __future__ import annotations

import os
import time
import uuid

import falcon
import falcon.asgi
import msgspec
import redis.asyncio
from bare import Health, answer_accepted


class Tickets:
    """POST /tickets: decode the JSON body, HSET it as a pending ticket, answer 202."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._client = client

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        fields = msgspec.json.decode(await req.stream.read())
        ticket_id = uuid.uuid4().hex
        await self._client.hset(
            f"floor:ticket:{ticket_id}", mapping={**fields, "status": "pending", "created_ts": time.time()}
        )
        answer_accepted(resp, ticket_id)


def create_app() -> falcon.asgi.App:
    """The floor app on ``REDIS_URL``."""
    app = falcon.asgi.App()
    app.add_route("/tickets", Tickets(redis.asyncio.Redis.from_url(os.environ["REDIS_URL"])))
    app.add_route("/health", Health())
    return app
