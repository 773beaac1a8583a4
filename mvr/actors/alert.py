"""Alert actor: post each urgent ticket's Slack alert at least once, a repeat only when labelled.

``complete.lua`` enqueues ``alert(ticket_id)`` on its own queue when S is above the
threshold and a webhook is set, so Slack trouble never delays triage (with no webhook,
it records ``alert: mock`` itself and the triage actor logs the alert). Dramatiq delivers
at least once; ``TicketStore.begin_alert`` (``lua/alert_begin.lua``) reserves the right to
post just before the POST, never across a wait:

- the alert is already ``sent``/``mock``/``failed``: skip;
- another delivery is posting: retry when its reservation would count as interrupted;
- another message's retry is scheduled: skip (one retry chain per alert);
- otherwise post, then record the outcome for good (``finish_alert``), or give the
  reservation back with the retry's due time (``release_alert``) before a retry.

A worker killed while posting leaves a reservation nobody finishes; Slack may or may not
have the message. After ``Settings.alert_hold_ms`` the next delivery (Dramatiq redelivers
a dead worker's messages) posts again, saying it may be a repeat. A kill during a backoff
or ``Retry-After`` wait interrupts nothing: no reservation is held then. With
``MVR_ALERT_DELIVERY=at-most-once`` an interrupted alert is recorded ``failed`` with
``UNKNOWN_DELIVERY`` instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import dramatiq
from dramatiq.common import compute_backoff
from dramatiq.middleware import CurrentMessage
from prometheus_client import Counter

from mvr import slack
from mvr.actors.runtime import runtime
from mvr.errors import SlackRateLimited, SlackRejected, SlackUnavailable, TicketNotFound
from mvr.queues import ALERT_ACTOR, ALERT_QUEUE
from mvr.store import AlertVerdict
from mvr.ticket import UNKNOWN_DELIVERY, AlertOutcome

if TYPE_CHECKING:
    from mvr.config import Settings
    from mvr.store import TicketStore

__all__ = ["ALERTS", "alert", "alert_exhausted", "log_mock_alert"]

logger = logging.getLogger(__name__)

#: Retries for 429s, 5xx and timeouts: backoff from ``MVR_ALERT_MIN_BACKOFF_MS`` (1 s) to
#: ``MVR_ALERT_MAX_BACKOFF_MS`` (60 s) with jitter (a 429 waits its ``Retry-After``
#: instead), about 7 minutes in all, then the alert ends ``failed``.
MAX_RETRIES = 12
#: Milliseconds of the first and the largest backoff after other errors (e.g. Redis down).
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 60_000
#: Longest wait, in milliseconds, of a delivery that finds another one posting.
HELD_RETRY_MS = 15_000

#: Alerts by outcome: sent, mock, failed, retried (429/5xx/timeout) or duplicate.
ALERTS = Counter("mvr_alerts_total", "Slack alerts by outcome.", ["outcome"])

_FINAL = {AlertOutcome.SENT, AlertOutcome.MOCK, AlertOutcome.FAILED}


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
    """Post the Slack alert of one urgent ticket, at least once (a repeat says so).

    Raises:
        dramatiq.Retry: Slack rate-limited us, failed or timed out, or another delivery
            is posting right now.
        SlackRejected: Slack refused the message; the alert is ``failed`` (no retry).
    """
    rt = runtime()
    ticket = _unfinished_ticket(rt.store, ticket_id)
    if ticket is None:
        return
    url = rt.settings.slack_webhook_url
    if not url:
        _mock(rt.store, ticket)
        return
    message = CurrentMessage.get_current_message()
    assert message is not None, "the broker runs CurrentMessage (mvr.actors.broker)"
    reservation = rt.store.begin_alert(ticket_id, message.message_id)
    if reservation.verdict == AlertVerdict.HELD:
        delay = min(reservation.held_ms + 100, HELD_RETRY_MS)
        raise dramatiq.Retry(f"alert of ticket {ticket_id} is being sent", delay=delay)
    if reservation.verdict == AlertVerdict.ABANDONED:
        _finish(rt.store, ticket_id, AlertOutcome.FAILED, UNKNOWN_DELIVERY)
        logger.warning(
            "Alert not re-sent ticket_id=%s: %s.", ticket_id, UNKNOWN_DELIVERY, extra={"ticket_id": ticket_id}
        )
        return
    if reservation.verdict in (AlertVerdict.FINAL, AlertVerdict.SCHEDULED):
        ALERTS.labels("duplicate").inc()
        return
    _send(rt.store, _Delivery(ticket, message, reservation.possible_repeat), url, rt.settings)


@dataclass(frozen=True)
class _Delivery:
    """One reserved attempt at posting a ticket's alert."""

    ticket: dict[str, str]
    message: dramatiq.Message[Any]
    possible_repeat: bool

    @property
    def ticket_id(self) -> str:
        return self.ticket["ticket_id"]


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


def _send(store: TicketStore, delivery: _Delivery, url: str, settings: Settings) -> None:
    ticket_id = delivery.ticket_id
    extra = {"ticket_id": ticket_id}
    payload = slack.build_message(delivery.ticket, settings, possible_repeat=delivery.possible_repeat)
    try:
        result = slack.post(url, payload, settings.slack_timeout_s)
    except SlackRejected as ex:
        _finish(store, ticket_id, AlertOutcome.FAILED, ex.reason)
        logger.error("Slack rejected alert ticket_id=%s reason=%s.", ticket_id, ex.reason, extra=extra)
        raise
    except SlackRateLimited as ex:
        _retry_later(store, delivery, str(ex), int(ex.retry_after_s * 1000))
    except SlackUnavailable as ex:
        _retry_later(store, delivery, str(ex), _backoff_ms(delivery.message, settings))
    _finish(store, ticket_id, AlertOutcome.SENT)
    repeat = " (labelled as a possible repeat)" if delivery.possible_repeat else ""
    logger.info(
        "Slack alert sent ticket_id=%s in %.0f ms%s.", ticket_id, result.elapsed_ms, repeat, extra=extra
    )


def _backoff_ms(message: dramatiq.Message[Any], settings: Settings) -> int:
    """Dramatiq's exponential backoff with jitter for this message's next retry."""
    retries = message.options.get("retries", 0)
    _, delay = compute_backoff(
        retries, factor=settings.alert_min_backoff_ms, max_backoff=settings.alert_max_backoff_ms
    )
    return delay


def _retry_later(store: TicketStore, delivery: _Delivery, reason: str, delay_ms: int) -> NoReturn:
    """Give the reservation back until the retry is due, then raise ``dramatiq.Retry``."""
    ticket_id = delivery.ticket_id
    store.release_alert(ticket_id, delivery.message.message_id, delay_ms)
    ALERTS.labels("retried").inc()
    logger.warning(
        "Slack alert will be retried in %d ms ticket_id=%s: %s.",
        delay_ms,
        ticket_id,
        reason,
        extra={"ticket_id": ticket_id},
    )
    raise dramatiq.Retry(reason, delay=delay_ms)


def _finish(store: TicketStore, ticket_id: str, outcome: AlertOutcome, reason: str = "") -> None:
    store.finish_alert(ticket_id, outcome.value, reason)
    ALERTS.labels(outcome.value).inc()
