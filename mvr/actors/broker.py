"""Dramatiq broker for MVR's workers: Redis by default, RabbitMQ with MVR_BROKER_URL."""

from __future__ import annotations

import logging

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage, Middleware, Retries, TimeLimit

from mvr import slack
from mvr.actors.runtime import runtime
from mvr.actors.sweeper import Sweeper
from mvr.actors.warmup import Warmup
from mvr.config import Settings

__all__ = ["MAINTENANCE_CHANCE", "LogLevel", "SlackStatusLog", "build_broker"]

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
        broker = RedisBroker(  # type: ignore[no-untyped-call]
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
    return broker
