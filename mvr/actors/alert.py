"""Alert actor: post one Slack message per urgent ticket, however often it is delivered.

``complete.lua`` enqueues ``alert(ticket_id)`` on its own queue when S is above the
threshold and a webhook is set, so Slack trouble never delays triage (with no webhook,
it records ``alert: mock`` itself and the triage actor logs the alert). Dramatiq delivers at least once;
``TicketStore.begin_alert`` turns that into one post per ticket:

- the ticket's ``alert`` field is already ``sent``/``mock``/``failed``: skip;
- another delivery holds the reservation: retry in ``HELD_RETRY_MS``;
- otherwise post, then record the outcome for good (``finish_alert``), or give the
  reservation back (``release_alert``) before a retry.

A worker killed while posting leaves a reservation that nobody finishes. Slack may
or may not have received that message, so after ``HOLD_MS`` a redelivery records
``alert: failed`` with ``UNKNOWN_DELIVERY`` instead of posting again: MVR never sends
an alert twice, at the price of possibly missing one when a worker dies mid-post.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import dramatiq
from prometheus_client import Counter

from mvr import slack
from mvr.actors.runtime import runtime
from mvr.errors import SlackRateLimited, SlackRejected, SlackUnavailable, TicketNotFound
from mvr.store import ALERT_ACTOR, ALERT_QUEUE
from mvr.ticket import UNKNOWN_DELIVERY, AlertOutcome

if TYPE_CHECKING:
    from mvr.config import Settings
    from mvr.store import TicketStore

__all__ = ["ALERTS", "alert", "alert_exhausted", "log_mock_alert"]

logger = logging.getLogger(__name__)

#: Retries for 429s, 5xx and timeouts: backoff from 1 s to 60 s (a 429 waits its
#: ``Retry-After`` instead), about 7 minutes in all, then the alert ends ``failed``.
MAX_RETRIES = 12
#: Milliseconds of the first and the largest backoff between retries.
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 60_000
#: Seconds allowed for each of connect, write and read when posting to Slack.
POST_TIMEOUT_S = 10.0
#: Milliseconds a delivery holds the right to post; longer than any post can take.
HOLD_MS = 60_000
#: Milliseconds a delivery waits when another one holds the reservation.
HELD_RETRY_MS = 15_000

#: Alerts by outcome: sent, mock, failed, retried (429/5xx/timeout) or duplicate.
ALERTS = Counter("mvr_alerts_total", "Slack alerts by outcome.", ["outcome"])

_FINAL = {AlertOutcome.SENT, AlertOutcome.MOCK, AlertOutcome.FAILED}


class SlackStatusLog(dramatiq.Middleware):
    """Log at worker start whether alerts go to Slack or only to the log."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        slack.log_webhook_status(runtime().settings)


dramatiq.get_broker().add_middleware(SlackStatusLog())


@dramatiq.actor(
    actor_name="alert_exhausted",
    queue_name=ALERT_QUEUE,
    max_retries=MAX_RETRIES,
    min_backoff=MIN_BACKOFF_MS,
    max_backoff=MAX_BACKOFF_MS,
)
def alert_exhausted(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    """Mark a ticket's alert ``failed`` once its alert message ran out of retries."""
    ticket_id = message["args"][0]
    store = runtime().store
    if store.ticket_fields(ticket_id).get("alert") in _FINAL:
        return
    attempts = retry_info.get("retries", 0) + 1
    reason = f"Slack unavailable after {attempts} attempts: {_last_error(message)}"
    _finish(store, ticket_id, AlertOutcome.FAILED, reason)
    logger.error("Slack alert gave up ticket_id=%s: %s.", ticket_id, reason, extra={"ticket_id": ticket_id})


def _last_error(message: dict[str, Any]) -> str:
    # The Retries middleware keeps the traceback of the last attempt; its last line is
    # "dramatiq.errors.Retry: <our reason>".
    lines = message.get("options", {}).get("traceback", "").strip().splitlines()
    last = lines[-1] if lines else "unknown error"
    return last.partition(": ")[2] or last


@dramatiq.actor(
    actor_name=ALERT_ACTOR,
    queue_name=ALERT_QUEUE,
    max_retries=MAX_RETRIES,
    min_backoff=MIN_BACKOFF_MS,
    max_backoff=MAX_BACKOFF_MS,
    throws=(SlackRejected,),
    on_retry_exhausted="alert_exhausted",
)
def alert(ticket_id: str) -> None:
    """Post the Slack alert of one urgent ticket, at most once per ticket.

    Raises:
        dramatiq.Retry: Slack rate-limited us, failed or timed out, or another delivery
            is posting right now.
        SlackRejected: Slack refused the message; the alert is ``failed`` (no retry).
    """
    rt = runtime()
    ticket = _unfinished_ticket(rt.store, ticket_id)
    if ticket is None:
        return
    reservation = rt.store.begin_alert(ticket_id, HOLD_MS)
    if reservation == "held":
        raise dramatiq.Retry(f"alert of ticket {ticket_id} is being sent", delay=HELD_RETRY_MS)
    if reservation == "abandoned":
        _finish(rt.store, ticket_id, AlertOutcome.FAILED, UNKNOWN_DELIVERY)
        logger.warning(
            "Alert not re-sent ticket_id=%s: %s.", ticket_id, UNKNOWN_DELIVERY, extra={"ticket_id": ticket_id}
        )
        return
    if reservation == "final":
        ALERTS.labels("duplicate").inc()
        return
    url = rt.settings.slack_webhook_url
    if url:
        _send(rt.store, url, ticket, rt.settings)
    else:
        _mock(rt.store, ticket)


def _unfinished_ticket(store: TicketStore, ticket_id: str) -> dict[str, str] | None:
    try:
        ticket = store.ticket_fields(ticket_id)
    except TicketNotFound:
        logger.warning(
            "Alert skipped, no such ticket ticket_id=%s.", ticket_id, extra={"ticket_id": ticket_id}
        )
        return None
    outcome = ticket.get("alert")
    if outcome in _FINAL:
        ALERTS.labels("duplicate").inc()
        logger.info(
            "Alert skipped, already %s ticket_id=%s.", outcome, ticket_id, extra={"ticket_id": ticket_id}
        )
        return None
    return ticket


def _mock(store: TicketStore, ticket: dict[str, str]) -> None:
    ticket_id = ticket["ticket_id"]
    store.finish_alert(ticket_id, AlertOutcome.MOCK.value, "")
    log_mock_alert(ticket_id, float(ticket.get("urgency_score") or 0.0))


def log_mock_alert(ticket_id: str, urgency_score: float) -> None:
    """Say, with no webhook set, which alert would have been posted (and count it)."""
    logger.info(
        "Mock webhook would fire ticket_id=%s S=%.2f.",
        ticket_id,
        urgency_score,
        extra={"ticket_id": ticket_id},
    )
    ALERTS.labels(AlertOutcome.MOCK.value).inc()


def _send(store: TicketStore, url: str, ticket: dict[str, str], settings: Settings) -> None:
    ticket_id = ticket["ticket_id"]
    extra = {"ticket_id": ticket_id}
    try:
        result = slack.post(url, slack.build_message(ticket, settings), POST_TIMEOUT_S)
    except SlackRejected as ex:
        _finish(store, ticket_id, AlertOutcome.FAILED, ex.reason)
        logger.error("Slack rejected alert ticket_id=%s reason=%s.", ticket_id, ex.reason, extra=extra)
        raise
    except SlackRateLimited as ex:
        _retry_later(store, ticket_id, str(ex))
        raise dramatiq.Retry(str(ex), delay=int(ex.retry_after_s * 1000)) from None
    except SlackUnavailable as ex:
        _retry_later(store, ticket_id, str(ex))
        raise dramatiq.Retry(str(ex)) from None
    _finish(store, ticket_id, AlertOutcome.SENT)
    logger.info("Slack alert sent ticket_id=%s in %.0f ms.", ticket_id, result.elapsed_ms, extra=extra)


def _retry_later(store: TicketStore, ticket_id: str, reason: str) -> None:
    store.release_alert(ticket_id)
    ALERTS.labels("retried").inc()
    logger.warning(
        "Slack alert will be retried ticket_id=%s: %s.", ticket_id, reason, extra={"ticket_id": ticket_id}
    )


def _finish(store: TicketStore, ticket_id: str, outcome: AlertOutcome, reason: str = "") -> None:
    store.finish_alert(ticket_id, outcome.value, reason)
    ALERTS.labels(outcome.value).inc()
