"""Load the engine when a worker process boots, then tell `mvr up` the worker is ready."""

from __future__ import annotations

import logging
import os
import socket

import dramatiq
from dramatiq.middleware import Middleware

from mvr.actors.runtime import runtime
from mvr.errors import StoreUnavailable

__all__ = ["Warmup"]

logger = logging.getLogger(__name__)


class Warmup(Middleware):
    """Build the engine before the first message, so that no ticket waits for the model."""

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        rt = runtime()
        rt.engine  # noqa: B018 - loads the model now, once per process
        try:
            rt.store.mark_worker_ready(f"{socket.gethostname()}:{os.getpid()}")
        except StoreUnavailable as ex:
            logger.warning("Worker ready, but Redis did not record it: %s", ex)
