"""Sweeper: re-send messages for work that lost them.

A ticket can be stored without a live message, e.g. when RabbitMQ refused the
publish after Redis had the ticket, a Redis failover lost a queue write, or a
Redis outage stranded messages a live worker had fetched (Dramatiq requeues
unacked messages only for dead workers). Each
worker runs a sweeper thread; one of them per ``interval_s`` (a Redis lock) re-sends
triage for tickets pending (or processing without a lock) for longer than
``after_s``, and alerts still undelivered, once their queue has no message
waiting (on the Redis broker; with RabbitMQ, age alone decides). An alert with a post in
progress or a retry scheduled (a message in Dramatiq's delay queue, which a worker holds
in memory, not in a Redis list) is not stranded: the sweeper never starts a second retry
chain. Re-sent triage messages carry the id only (the worker claims the ticket to read it).
Duplicates are harmless: the completion script (one decision per ticket) and ``begin_alert``
turn them into no-ops.
"""

from __future__ import annotations

import logging
import threading

import dramatiq

from mvr.actors.runtime import runtime
from mvr.errors import StoreUnavailable
from mvr.queues import ALERT_ACTOR, ALERT_QUEUE, TRIAGE_ACTOR, TRIAGE_QUEUE, ticket_message

__all__ = ["Sweeper"]

logger = logging.getLogger(__name__)


class Sweeper(dramatiq.Middleware):
    """Run the sweep loop in a daemon thread of every worker process."""

    def __init__(self, interval_s: float, after_s: float) -> None:
        self.interval_s = interval_s
        self.after_s = after_s
        self._stopping = threading.Event()

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        threading.Thread(target=self._loop, args=(broker,), name="mvr-sweeper", daemon=True).start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stopping.set()

    def _loop(self, broker: dramatiq.Broker) -> None:
        while not self._stopping.wait(self.interval_s):
            try:
                self.sweep(broker)
            except StoreUnavailable as ex:
                logger.warning("Sweep skipped: %s.", ex)
            except Exception:  # e.g. the broker is down; the loop must outlive it
                logger.warning("Sweep failed; trying again in %.0f s.", self.interval_s, exc_info=True)

    def sweep(self, broker: dramatiq.Broker) -> int:
        """Re-send stranded work if it is this worker's turn; return how many messages were sent."""
        store = runtime().store
        if not store.take_sweep_turn(self.interval_s):
            return 0
        # While a queue still holds messages, old pending work is waiting, not lost.
        triage_idle = not store.queue_backlog(TRIAGE_QUEUE)
        alerts_idle = not store.queue_backlog(ALERT_QUEUE)
        if not (triage_idle or alerts_idle):
            return 0
        tickets, alerts = store.stranded(self.after_s)
        tickets = tickets if triage_idle else []
        alerts = alerts if alerts_idle else []
        for ticket_id in tickets:
            broker.enqueue(ticket_message(TRIAGE_QUEUE, TRIAGE_ACTOR, ticket_id))
        for ticket_id in alerts:
            broker.enqueue(ticket_message(ALERT_QUEUE, ALERT_ACTOR, ticket_id))
        store.mark_swept(tickets + alerts)
        if tickets or alerts:
            logger.warning("Sweep re-sent triage=%d alerts=%d.", len(tickets), len(alerts))
        return len(tickets) + len(alerts)
