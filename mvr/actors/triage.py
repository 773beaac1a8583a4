"""Triage: read a ticket (from its message or a claim), decide category and urgency, complete it.

The actor runs one message; ``mvr.actors.batches`` runs many with the same steps.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dramatiq

from mvr.actors.alert import alert, log_mock_alert
from mvr.actors.broker import script_ack
from mvr.actors.metrics import FALLBACKS, TICKETS_FAILED, TICKETS_TRIAGED, TIME_TO_COMPLETED, TRIAGE_SECONDS
from mvr.actors.runtime import runtime
from mvr.queues import TRIAGE_ACTOR, TRIAGE_QUEUE
from mvr.store import ClaimState, Completion
from mvr.ticket import AlertOutcome, ticket_text

if TYPE_CHECKING:
    from mvr.config import Settings
    from mvr.ticket import Decision

__all__ = ["Work", "alert_outcome_of", "finish", "ticket_work", "triage", "triage_exhausted"]

logger = logging.getLogger(__name__)

#: Retries for transient errors (Redis hiccups): backoff from ``MIN_BACKOFF_MS`` to
#: ``MAX_BACKOFF_MS``, about 10 minutes in all, then the ticket ends ``failed``.
MAX_RETRIES = 25
MIN_BACKOFF_MS = 500
MAX_BACKOFF_MS = 30_000
#: Backoff of the actor that marks a ticket ``failed`` (it only needs Redis back).
EXHAUSTED_MIN_BACKOFF_MS = 1_000
#: Extra wait, in milliseconds, after another worker's lock runs out before claiming again.
LOCK_MARGIN_MS = 100


@dramatiq.actor(
    actor_name="triage_exhausted",
    queue_name=TRIAGE_QUEUE,
    max_retries=MAX_RETRIES,
    min_backoff=EXHAUSTED_MIN_BACKOFF_MS,
    max_backoff=MAX_BACKOFF_MS,
)
def triage_exhausted(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    """Mark a ticket ``failed`` once its triage message ran out of retries."""
    ticket_id = message["args"][0]
    reason = f"triage failed after {retry_info.get('retries', '?')} attempts"
    if runtime().store.fail(ticket_id, reason):
        TICKETS_FAILED.inc()
        logger.error("Triage gave up ticket_id=%s.", ticket_id, extra={"ticket_id": ticket_id})


@dramatiq.actor(
    actor_name=TRIAGE_ACTOR,
    queue_name=TRIAGE_QUEUE,
    max_retries=MAX_RETRIES,
    min_backoff=MIN_BACKOFF_MS,
    max_backoff=MAX_BACKOFF_MS,
    on_retry_exhausted="triage_exhausted",
)
def triage(ticket_id: str, text: list[str] | None = None, created_ts: float = 0.0) -> None:
    """Classify one ticket; safe to run more than once for the same ticket.

    On the Redis broker the worker's batch loop (``mvr.actors.batches``) runs triage
    messages instead, many per call; this actor runs them with RabbitMQ, or with
    ``MVR_TRIAGE_BATCH_SIZE=1``.
    """
    rt = runtime()
    work = ticket_work(ticket_id, text, created_ts)
    if work is None:
        return
    decision = rt.engine.decide(ticket_text(*work.text))
    alert_outcome = alert_outcome_of(decision.urgency_score, rt.settings)
    with script_ack() as ack:
        outcome = rt.store.complete(ticket_id, work.token, decision, alert=alert_outcome, ack=ack)
    finish(work, decision, alert_outcome, outcome)


@dataclass(frozen=True)
class Work:
    """A ticket ready to decide: its claim's token (``""`` unclaimed), text and creation time."""

    ticket_id: str
    token: str
    text: list[str]
    created_ts: float
    started: float = field(default_factory=time.monotonic)


def ticket_work(ticket_id: str, text: list[str] | None = None, created_ts: float = 0.0) -> Work | None:
    """Return the work of a triage message, or None when there is nothing to do.

    A message from ``accept.lua`` carries the ticket's ``text`` and ``created_ts``
    (``triage_args``): the worker decides at once and the completion script keeps the first
    decision (one Redis call). A message with the id only (sweeper, RabbitMQ) claims the
    ticket first, which reads its text (``processing`` until completed).

    Raises:
        dramatiq.Retry: Another worker holds the ticket; try again once its lock runs out.
    """
    if text is not None:
        return Work(ticket_id, "", text, created_ts)
    claim = runtime().store.claim(ticket_id)
    if claim.state == ClaimState.LOCKED:
        raise dramatiq.Retry(
            f"ticket {ticket_id} is held by another worker", delay=claim.retry_in_ms + LOCK_MARGIN_MS
        )
    if claim.state != ClaimState.CLAIMED:
        _skipped(ticket_id, claim.state)
        return None
    return Work(ticket_id, claim.token, list(claim.text), claim.created_ts)


def finish(work: Work, decision: Decision, alert_outcome: AlertOutcome, outcome: Completion) -> None:
    """After the completion script: send or log the alert, count and log the outcome."""
    ticket_id = work.ticket_id
    if outcome != Completion.COMPLETED:
        _skipped(ticket_id, outcome)
        return
    settings = runtime().settings
    if alert_outcome == AlertOutcome.PENDING and settings.broker_url:
        alert.send(ticket_id)  # on Redis, complete.lua enqueued it atomically
    if alert_outcome == AlertOutcome.MOCK:
        log_mock_alert(ticket_id, decision.urgency_score)
    _record(decision.explanation.get("fallback", False), work.started, work.created_ts)
    logger.info(
        "Triage completed ticket_id=%s category=%s S=%.4f.",
        ticket_id,
        decision.category,
        decision.urgency_score,
        extra={"ticket_id": ticket_id},
    )


def _skipped(ticket_id: str, state: str) -> None:
    TICKETS_TRIAGED.labels(state).inc()
    logger.info("Triage skipped ticket_id=%s state=%s.", ticket_id, state, extra={"ticket_id": ticket_id})


def alert_outcome_of(urgency_score: float, settings: Settings) -> AlertOutcome:
    """Queue an alert above the threshold; without a webhook, record it as a mock at once."""
    if urgency_score <= settings.urgency_webhook_threshold:
        return AlertOutcome.NONE
    return AlertOutcome.PENDING if settings.slack_webhook_url else AlertOutcome.MOCK


def _record(fallback: bool, started: float, created_ts: float) -> None:
    TICKETS_TRIAGED.labels(Completion.COMPLETED).inc()
    TRIAGE_SECONDS.observe(time.monotonic() - started)
    TIME_TO_COMPLETED.observe(max(0.0, time.time() - created_ts))
    if fallback:
        FALLBACKS.inc()
