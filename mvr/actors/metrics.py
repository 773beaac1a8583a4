"""Prometheus metrics of the workers.

`mvr worker` runs Dramatiq's Prometheus middleware (processed, errored, retried
messages and durations per actor) with ``PROMETHEUS_MULTIPROC_DIR`` set, so the
metrics below, from every worker process, are served with Dramatiq's on
``http://127.0.0.1:9191/`` (``MVR_WORKER_METRICS_PORT``).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = ["FALLBACKS", "TICKETS_FAILED", "TICKETS_TRIAGED", "TIME_TO_COMPLETED", "TRIAGE_SECONDS"]

#: Triage runs by outcome: completed, done (already completed), stale (newer claim won), missing.
TICKETS_TRIAGED = Counter("mvr_tickets_triaged_total", "Triage runs by outcome.", ["outcome"])
#: Tickets that ended failed after their retries.
TICKETS_FAILED = Counter("mvr_tickets_failed_total", "Tickets that ended failed.")
#: Decisions made by the keyword baseline because the model could not answer.
FALLBACKS = Counter("mvr_fallback_decisions_total", "Decisions the baseline made in place of the model.")
#: Seconds from the start of inference to the written decision, per ticket.
TRIAGE_SECONDS = Histogram(
    "mvr_triage_seconds",
    "Time from the start of inference to the written decision.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
#: Seconds from acceptance (POST) to completion.
TIME_TO_COMPLETED = Histogram(
    "mvr_ticket_time_to_completed_seconds",
    "Time from acceptance to completion.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0),
)
