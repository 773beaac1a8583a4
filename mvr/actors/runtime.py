"""What a worker process holds: settings, store and the engine, built once."""

from __future__ import annotations

import logging
import threading
from functools import cached_property
from typing import TYPE_CHECKING

from mvr.config import Settings, load_settings
from mvr.store import TicketStore, connect

if TYPE_CHECKING:
    from mvr.inference.engine import Engine

__all__ = ["Runtime", "runtime"]

logger = logging.getLogger(__name__)


class Runtime:
    """Lazily built, process-wide worker state (thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()

    @cached_property
    def store(self) -> TicketStore:
        return TicketStore(connect(self.settings), self.settings)

    @property
    def engine(self) -> Engine:
        """The inference engine, loaded on first use (once per process)."""
        with self._lock:
            return self._engine

    @cached_property
    def _engine(self) -> Engine:
        from mvr.inference.engine import Engine

        engine = Engine.from_settings(self.settings)
        logger.info("Engine ready backend=%s.", engine.backend_name)
        return engine


_runtime: Runtime | None = None


def runtime() -> Runtime:
    """Return this process's runtime, creating it from the environment once."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime(load_settings())
    return _runtime
