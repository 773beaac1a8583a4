"""Dramatiq actors of MVR; ``dramatiq mvr.actors`` runs a worker over them.

Dramatiq binds an actor to the global broker when its module is imported, so this
package sets that broker (``build_broker``: Redis or RabbitMQ, with all of MVR's worker
middleware) before it imports the actors.
"""

import dramatiq

from mvr.actors.broker import build_broker
from mvr.actors.runtime import runtime

dramatiq.set_broker(build_broker(runtime().settings))

from mvr.actors.alert import alert, alert_exhausted  # noqa: E402
from mvr.actors.triage import triage, triage_exhausted  # noqa: E402

__all__ = ["alert", "alert_exhausted", "triage", "triage_exhausted"]
