"""Peer (c) ``seed``: the service a user would otherwise write, at its best.

FastAPI on uvicorn, a pydantic model, ``redis.asyncio``; the status hash and an
``RPUSH`` of the job message in one pipelined round trip; uuid4 ids, no global lock.
Served like the other peers: ``gunicorn seed:app -k uvicorn_worker.UvicornWorker -w 2``
(``uvicorn seed:app`` works too); ``REDIS_URL`` names its Redis.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import redis.asyncio
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

app = FastAPI(title="seed")
client = redis.asyncio.Redis.from_url(os.environ["REDIS_URL"])


class TicketIn(BaseModel):
    """A new ticket."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(default="", max_length=500)
    body: str = Field(default="", max_length=20_000)
    description: str = Field(default="", max_length=20_000)


class TicketAccepted(BaseModel):
    """Answer to POST /tickets."""

    ticket_id: str
    status: str
    status_url: str


@app.post("/tickets", status_code=202, response_model=TicketAccepted)
async def submit(ticket: TicketIn) -> TicketAccepted:
    """Store the ticket as pending and queue it for the classifier, one round trip."""
    ticket_id = str(uuid.uuid4())
    created = time.time()
    async with client.pipeline(transaction=False) as pipe:
        pipe.hset(
            f"seed:ticket:{ticket_id}",
            mapping={**ticket.model_dump(), "status": "pending", "created_ts": created},
        )
        pipe.rpush("seed:queue", json.dumps({"ticket_id": ticket_id, "created_ts": created}))
        await pipe.execute()
    return TicketAccepted(ticket_id=ticket_id, status="accepted", status_url=f"/tickets/{ticket_id}/status")


@app.get("/health")
async def health() -> dict[str, str]:
    """Liveness."""
    return {"status": "ok"}
