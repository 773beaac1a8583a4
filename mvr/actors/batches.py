"""Triage in batches on the Redis broker: one fetch, one engine call, one completion round trip.

Dramatiq runs one message per worker thread, with a fetch, middleware and a Redis call
per ticket around the engine. On the Redis broker each worker process instead runs
``BATCH_LOOPS`` batch loops on the triage queue: a loop fetches up to
``MVR_TRIAGE_BATCH_SIZE`` messages (Dramatiq's own fetch script: the messages sit in
this worker's unacked set, so a killed worker's batch is requeued as Dramatiq requeues
its own), decides their tickets in one ``Engine.decide_many`` call and writes every
decision, with its alert and the message's ack, in one pipelined round trip of
``complete.lua`` calls. Dramatiq's consumer of the triage queue is left idle
(``ScriptAckBroker``); its delay queue, where retries wait, still moves due messages
back to the triage queue.

A message that fails (Redis gone, another worker's lock) is handed to Dramatiq's
``Retries`` middleware, which schedules it with the actor's backoff or, once its retries
run out, sends ``triage_exhausted``, exactly as for a message of the actor. Other actors'
messages on the queue (``triage_exhausted``) run one by one. Dramatiq's ``TimeLimit`` does
not apply to a batch: the engine's micro-batcher and Redis time out on their own.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, cast

import dramatiq
from dramatiq.common import compute_backoff
from dramatiq.middleware import Middleware, Retries

from mvr.actors.runtime import runtime
from mvr.queues import TRIAGE_ACTOR, TRIAGE_QUEUE
from mvr.store import Completion, CompletionRequest
from mvr.ticket import ticket_text

if TYPE_CHECKING:
    from mvr.actors.broker import ScriptAckBroker
    from mvr.actors.triage import Work

__all__ = ["BATCH_LOOPS", "TriageBatches", "run_batch"]

logger = logging.getLogger(__name__)

#: Batch loops per worker process. PERF: two keep both encoder runners busy while a loop
#: waits on Redis (benchmarks/RESULTS.md "Triage in batches").
BATCH_LOOPS = 2
#: Seconds a stopping worker waits for its loops to finish the batch in hand.
STOP_TIMEOUT_S = 30.0


class TriageBatches(Middleware):
    """Run the batch loops in every worker process (Redis broker, batch size above 1)."""

    def __init__(self, batch_size: int, poll_ms: int) -> None:
        self.batch_size = batch_size
        self.poll_ms = poll_ms
        self._stopping = threading.Event()
        self._loops: list[threading.Thread] = []

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        broker = cast("ScriptAckBroker", broker)  # build_broker adds this middleware to that broker only
        for i in range(BATCH_LOOPS):
            loop = threading.Thread(target=self._loop, args=(broker,), name=f"mvr-triage-{i}", daemon=True)
            loop.start()
            self._loops.append(loop)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stopping.set()
        for loop in self._loops:
            loop.join(STOP_TIMEOUT_S)

    def _loop(self, broker: ScriptAckBroker) -> None:
        misses = 0
        while not self._stopping.is_set():
            try:
                fetched = broker.do_fetch(TRIAGE_QUEUE, self.batch_size)
            except Exception as ex:  # Redis is down: poll again, as Dramatiq's consumer does
                logger.warning("Triage fetch failed: %s.", ex)
                fetched = []
            if not fetched:
                misses, backoff_ms = compute_backoff(misses, max_backoff=self.poll_ms)
                self._stopping.wait(backoff_ms / 1000)
                continue
            misses = 0
            try:
                run_batch(broker, [dramatiq.MessageProxy(dramatiq.Message.decode(data)) for data in fetched])
            except Exception:  # the loop must outlive any batch; its unsettled messages stay
                # unacked (requeued if this worker dies) and the sweeper re-sends their tickets
                logger.exception("Triage batch of %d messages failed.", len(fetched))


def run_batch(broker: ScriptAckBroker, messages: list[dramatiq.MessageProxy]) -> None:
    """Triage fetched ``messages`` together; every message ends acked, retried or dead-lettered."""
    # Imported here: the actors must be declared after ``mvr.actors`` has set the broker.
    from mvr.actors.triage import ticket_work

    ready: list[tuple[dramatiq.MessageProxy, Work]] = []
    for message in messages:
        if message.actor_name != TRIAGE_ACTOR:
            _run_alone(broker, message)
            continue
        try:
            work = ticket_work(*message.args, **message.kwargs)
        except Exception as ex:
            _retry(broker, message, ex)
            continue
        if work is None:
            _settle(broker, message)
        else:
            ready.append((message, work))
    if ready:
        _decide_and_complete(broker, ready)


def _decide_and_complete(broker: ScriptAckBroker, ready: list[tuple[dramatiq.MessageProxy, Work]]) -> None:
    from mvr.actors.triage import alert_outcome_of, finish

    rt = runtime()
    decisions = rt.engine.decide_many([ticket_text(*work.text) for _, work in ready])
    alerts = [alert_outcome_of(decision.urgency_score, rt.settings) for decision in decisions]
    requests = [
        CompletionRequest(work.ticket_id, work.token, decision, alert, broker.ack_for_script(message))
        for (message, work), decision, alert in zip(ready, decisions, alerts, strict=True)
    ]
    outcomes: list[Completion | Exception]
    try:
        outcomes = list(rt.store.complete_many(requests))
    except Exception as ex:
        outcomes = [ex] * len(requests)
    for (message, work), decision, alert, outcome in zip(ready, decisions, alerts, outcomes, strict=True):
        if isinstance(outcome, Exception):
            _retry(broker, message, outcome)
        else:
            finish(work, decision, alert, outcome)


def _run_alone(broker: ScriptAckBroker, message: dramatiq.MessageProxy) -> None:
    try:
        broker.get_actor(message.actor_name).fn(*message.args, **message.kwargs)
    except Exception as ex:
        _retry(broker, message, ex)
    else:
        _settle(broker, message)


def _retry(broker: ScriptAckBroker, message: dramatiq.MessageProxy, error: Exception) -> None:
    """Schedule ``message`` again as Dramatiq's ``Retries`` does for an actor that raised ``error``."""
    logger.warning("Triage of message %s failed: %s.", message.message_id, error)
    try:
        _retries(broker).after_process_message(broker, message, exception=error)
        _settle(broker, message)
    except Exception as ex:  # Redis is down: the message stays unacked; the sweeper re-sends its ticket
        logger.warning("Could not reschedule message %s: %s.", message.message_id, ex)


def _settle(broker: ScriptAckBroker, message: dramatiq.MessageProxy) -> None:
    """Ack ``message``, or dead-letter it once its retries ran out."""
    settle = broker.do_nack if message.failed else broker.do_ack
    settle(TRIAGE_QUEUE, message.options["redis_message_id"])


def _retries(broker: dramatiq.Broker) -> Any:
    return next(m for m in broker.middleware if isinstance(m, Retries))
