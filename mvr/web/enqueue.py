"""Triage messages over RabbitMQ (``MVR_BROKER_URL``), sent off the event loop.

With Redis as the broker, ``accept.lua`` enqueues in the same call that stores
the ticket, so this module is not used. With RabbitMQ, the ticket is stored
first; if the publish then fails, the ticket stays ``pending`` and the workers'
sweeper re-sends it: an accepted ticket is never lost.
"""

from __future__ import annotations

import asyncio
import logging

from dramatiq import Message
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from mvr.store import TRIAGE_ACTOR, TRIAGE_QUEUE

__all__ = ["RabbitSender"]

logger = logging.getLogger(__name__)


class RabbitSender:
    """Publish triage messages to RabbitMQ through Dramatiq's own broker."""

    def __init__(self, url: str) -> None:
        self._broker = RabbitmqBroker(url=url, middleware=[])
        self._broker.declare_queue(TRIAGE_QUEUE)

    async def send_triage(self, ticket_id: str) -> None:
        """Publish ``triage(ticket_id)``; log (not raise) a failure: the sweeper re-sends."""
        message: Message[None] = Message(
            queue_name=TRIAGE_QUEUE, actor_name=TRIAGE_ACTOR, args=(ticket_id,), kwargs={}, options={}
        )
        try:
            await asyncio.to_thread(self._broker.enqueue, message)
        except Exception as ex:  # noqa: BLE001 - any publish failure is recovered by the sweeper
            logger.warning(
                "Publish failed ticket_id=%s; the sweeper will re-send: %s",
                ticket_id,
                ex,
                extra={"ticket_id": ticket_id},
            )
