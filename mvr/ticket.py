"""What a ticket is: its statuses and the text the models read."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["UNKNOWN_DELIVERY", "AlertOutcome", "TicketStatus", "ticket_text"]

#: ``alert_reason`` with ``MVR_ALERT_DELIVERY=at-most-once`` when a worker died while posting:
#: Slack may or may not have the message, and posting again could send it twice, so MVR does not.
UNKNOWN_DELIVERY = "delivery unknown: a worker stopped while posting; not re-sent to avoid a duplicate"


class TicketStatus(StrEnum):
    """Where a ticket is in its life."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class AlertOutcome(StrEnum):
    """What became of a ticket's Slack alert."""

    NONE = "none"
    PENDING = "pending"
    SENT = "sent"
    MOCK = "mock"
    FAILED = "failed"


def ticket_text(subject: str = "", body: str = "", description: str = "") -> str:
    """Join the non-blank text fields of a ticket, one per line, for the classifier."""
    return "\n".join(part.strip() for part in (subject, body, description) if part and part.strip())
