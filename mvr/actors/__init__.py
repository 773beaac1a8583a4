"""Dramatiq actors of MVR; ``dramatiq mvr.actors`` runs a worker over them.

Importing this package sets the global broker from the environment.
"""

import dramatiq

from mvr.actors.broker import build_broker
from mvr.actors.runtime import runtime
from mvr.actors.sweeper import Sweeper
from mvr.actors.warmup import Warmup

_settings = runtime().settings
dramatiq.set_broker(build_broker(_settings))
dramatiq.get_broker().add_middleware(Sweeper(_settings.sweep_interval_s, _settings.sweep_after_s))
dramatiq.get_broker().add_middleware(Warmup())

from mvr.actors.alert import alert, alert_exhausted  # noqa: E402
from mvr.actors.triage import triage, triage_exhausted  # noqa: E402

__all__ = ["alert", "alert_exhausted", "triage", "triage_exhausted"]
