"""Dramatiq broker for MVR's workers: Redis by default, RabbitMQ with MVR_BROKER_URL."""

from __future__ import annotations

import logging

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage, Middleware, Retries, TimeLimit

from mvr.config import Settings
from mvr.store import require_url

__all__ = ["MAINTENANCE_CHANCE", "LogLevel", "build_broker"]

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


def build_broker(settings: Settings) -> dramatiq.Broker:
    """Return the broker the workers consume from (with metrics when `mvr worker` runs them)."""
    broker: dramatiq.Broker
    middleware = _middleware()
    if settings.broker_url:
        broker = RabbitmqBroker(url=settings.broker_url, middleware=middleware)
    else:
        broker = RedisBroker(
            middleware=middleware,
            url=require_url(settings),
            namespace=settings.broker_namespace,
            heartbeat_timeout=settings.broker_heartbeat_timeout_ms,
            maintenance_chance=MAINTENANCE_CHANCE,
        )
    broker.add_middleware(LogLevel(settings.log_level))
    if settings.prometheus_multiproc_dir:
        from dramatiq.middleware.prometheus import Prometheus

        broker.add_middleware(Prometheus())
    return broker
