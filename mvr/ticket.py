"""What a ticket is: its statuses and the text the models read."""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

__all__ = [
    "ACTIONS",
    "DECIDED",
    "UNKNOWN_DELIVERY",
    "AlertOutcome",
    "TicketStatus",
    "is_ticket_id",
    "score_text",
    "ticket_text",
]

#: What MVR's ticket ids look like: 32 lowercase hex digits (a uuid4 without dashes).
_TICKET_ID = re.compile(r"[0-9a-f]{32}")

#: ``alert_reason`` with ``MVR_ALERT_DELIVERY=at-most-once`` when a worker died while posting:
#: Slack may or may not have the message, and posting again could send it twice, so MVR does not.
UNKNOWN_DELIVERY = "delivery unknown: a worker stopped while posting; not re-sent to avoid a duplicate"


class TicketStatus(StrEnum):
    """Where a ticket is in its life.

    ``pending → processing → completed | failed``; then for people ``completed → taken``
    (``GET /tickets/next``) ``→ resolved`` (resolve), or ``taken → completed`` (requeue, or
    the lease ``MVR_TAKE_TIMEOUT_S`` running out).
    """

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    TAKEN = "taken"
    RESOLVED = "resolved"


#: Statuses of a ticket that carries MVR's decision (and may carry a person's correction).
DECIDED = frozenset({TicketStatus.COMPLETED, TicketStatus.TAKEN, TicketStatus.RESOLVED})

#: What people may do to a ticket in each status: ``POST /tickets/{id}/{action}``. Taking
#: (``completed`` → ``taken``) is ``GET /tickets/next``, which picks the ticket itself.
ACTIONS: dict[str, tuple[str, ...]] = {
    TicketStatus.COMPLETED: ("category",),
    TicketStatus.TAKEN: ("resolve", "requeue", "category"),
    TicketStatus.RESOLVED: ("category",),
}


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


def score_text(score: float) -> str:
    """Return S with two decimals, cut rather than rounded: 0.9985 is "0.99", never "1.00"."""
    return str(Decimal(repr(score)).quantize(Decimal("0.01"), rounding=ROUND_DOWN))
