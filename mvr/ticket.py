"""What a ticket is: its statuses and the text the models read."""

from __future__ import annotations

import re
from enum import StrEnum

__all__ = ["UNKNOWN_DELIVERY", "AlertOutcome", "TicketStatus", "is_ticket_id", "ticket_text"]

#: What MVR's ticket ids look like: 32 lowercase hex digits (a uuid4 without dashes).
_TICKET_ID = re.compile(r"[0-9a-f]{32}")

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


def is_ticket_id(text: str) -> bool:
    """Tell whether ``text`` can be a ticket id (anything else names no ticket)."""
    return _TICKET_ID.fullmatch(text) is not None


def ticket_text(subject: str = "", body: str = "", description: str = "") -> str:
    """Join the non-blank text fields of a ticket, one per line, for the classifier."""
    return "\n".join(part.strip() for part in (subject, body, description) if part and part.strip())
