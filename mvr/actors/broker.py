"""Dramatiq broker for MVR's workers: Redis by default, RabbitMQ with MVR_BROKER_URL."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dramatiq
from dramatiq.broker import Consumer
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.middleware import CurrentMessage, Middleware, Retries, TimeLimit

from mvr import slack
from mvr.actors.batches import TriageBatches
from mvr.actors.runtime import runtime
from mvr.actors.sweeper import Sweeper
from mvr.actors.warmup import Warmup
from mvr.config import Settings
from mvr.queues import TRIAGE_QUEUE, RedisAck

__all__ = [
    "MAINTENANCE_CHANCE",
    "LogLevel",
    "ScriptAckBroker",
    "SlackStatusLog",
    "build_broker",
    "script_ack",
]

#: Chance (per million broker commands) that a Redis command also requeues the
#: messages of dead workers. Dramatiq's default (1,000) makes recovery take
#: minutes on a quiet queue; 100,000 makes it take seconds at negligible cost.
MAINTENANCE_CHANCE = 100_000


def _middleware() -> list[Middleware]:
    """Only the middleware MVR uses: retries with backoff, a time limit per message, and
    the current message (the alert actor keys its Slack reservation by message id).

    Dramatiq's defaults also run age limits, callbacks, pipelines and shutdown
    notifications on every message; MVR uses none of them.
    """
    return [TimeLimit(), Retries(), CurrentMessage()]


class ScriptAckBroker(RedisBroker):
    """Dramatiq's Redis broker, where a Lua script of MVR may acknowledge a message for Dramatiq.

    PERF: the triage actor acknowledges its message inside the completion script
    (``TicketStore.complete``), which saves one Redis round trip per ticket; the consumer
    then skips its own ack of that message (bench_e2e, RESULTS.md "Worker round trips").
    """

    def __init__(self, *, batched_queue: str | None = None, **options: Any) -> None:
        """Args:
        batched_queue: A queue MVR's batch loops consume (``mvr.actors.batches``): Dramatiq's
            consumer of it stays idle. Its delay queue is consumed as usual.
        """
        super().__init__(**options)  # type: ignore[no-untyped-call]
        self.batched_queue = batched_queue
        #: ``redis_message_id`` of the messages a script acknowledged, until their consumer sees them.
        self.acked_by_script: set[str] = set()

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        if queue_name == self.batched_queue:
            return _IdleConsumer(timeout)
        return super().consume(queue_name, prefetch, timeout)

    @property
    def consumer_class(self) -> type[_RedisConsumer]:
        return _ScriptAckConsumer

    def ack_for_script(self, message: dramatiq.Message[Any] | dramatiq.MessageProxy) -> RedisAck:
        """Return what a script must touch to acknowledge ``message``, being processed by this worker."""
        return RedisAck.of(
            self.namespace, self.broker_id, message.queue_name, message.options["redis_message_id"]
        )

    def acked_in_script(self, message: dramatiq.Message[Any]) -> None:
        """Record that a script acknowledged ``message`` (``ack_for_script``): its consumer skips its ack."""
        self.acked_by_script.add(message.options["redis_message_id"])


@contextmanager
def script_ack() -> Iterator[RedisAck | None]:
    """Yield the ack of the message being processed, for a script to run (None: Dramatiq acks it).

    Once the block has run without error, the consumer skips its own ack of the message.
    """
    broker, message = dramatiq.get_broker(), CurrentMessage.get_current_message()
    if not isinstance(broker, ScriptAckBroker) or message is None:
        yield None
        return
    yield broker.ack_for_script(message)
    broker.acked_in_script(message)


class _ScriptAckConsumer(_RedisConsumer):
    """A Redis consumer that does not ack (or nack) again what a script has acknowledged."""

    broker: ScriptAckBroker

    def ack(self, message: dramatiq.MessageProxy) -> None:
        if not self._acked_by_script(message):
            super().ack(message)  # type: ignore[no-untyped-call]

    def nack(self, message: dramatiq.MessageProxy) -> None:
        if not self._acked_by_script(message):
            super().nack(message)  # type: ignore[no-untyped-call]

    def _acked_by_script(self, message: dramatiq.MessageProxy) -> bool:
        try:
            self.broker.acked_by_script.remove(message.options["redis_message_id"])
        except KeyError:
            return False
        self.queued_message_ids.discard(message.message_id)
        return True


class _IdleConsumer(Consumer):
    """A consumer that never fetches: MVR's batch loops consume its queue."""

    def __init__(self, timeout_ms: int) -> None:
        self._timeout_s = timeout_ms / 1000

    def __next__(self) -> None:
        time.sleep(self._timeout_s)
        return None

    def ack(self, message: dramatiq.MessageProxy) -> None:
        raise AssertionError("an idle consumer has no messages")

    nack = ack


class LogLevel(Middleware):
    """Set the level of MVR's loggers (``MVR_LOG_LEVEL``) in each worker process."""

    def __init__(self, level: str) -> None:
        self._level = level.upper()

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        logging.getLogger("mvr").setLevel(self._level)


class SlackStatusLog(Middleware):
    """Log at worker start whether alerts go to Slack or only to the log (webhook URLs redacted)."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        slack.redact_http_logs()
        slack.log_webhook_status(runtime().settings)


def build_broker(settings: Settings) -> dramatiq.Broker:
    """Return the broker the workers consume from, with all of MVR's worker middleware.

    Metrics are added when `mvr worker` runs the workers (``PROMETHEUS_MULTIPROC_DIR``).
    """
    broker: dramatiq.Broker
    middleware = _middleware()
    if settings.broker_url:
        broker = RabbitmqBroker(url=settings.broker_url, middleware=middleware)
    else:
        batched = settings.triage_batch_size > 1
        broker = ScriptAckBroker(
            batched_queue=TRIAGE_QUEUE if batched else None,
            middleware=middleware,
            url=settings.require_redis_url(),
            namespace=settings.broker_namespace,
            heartbeat_timeout=settings.broker_heartbeat_timeout_ms,
            maintenance_chance=MAINTENANCE_CHANCE,
        )
    broker.add_middleware(LogLevel(settings.log_level))
    if settings.prometheus_multiproc_dir:
        from dramatiq.middleware.prometheus import Prometheus

        broker.add_middleware(Prometheus())
    broker.add_middleware(SlackStatusLog())
    broker.add_middleware(Sweeper(settings.sweep_interval_s, settings.sweep_after_s))
    broker.add_middleware(Warmup())
    if isinstance(broker, ScriptAckBroker) and broker.batched_queue:
        broker.add_middleware(TriageBatches(settings.triage_batch_size, settings.worker_poll_ms))
    return broker
