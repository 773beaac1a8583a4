"""What a ticket is: its text fields, statuses, decision, alert states and status document.

Every other module takes these names from here; the HTTP answers and the OpenAPI
schemas are built from the Structs below, so a field added here appears in both.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Annotated, Any

import msgspec
from msgspec import Meta

__all__ = [
    "ACTIONS",
    "DECIDED",
    "TEXT_FIELDS",
    "UNKNOWN_DELIVERY",
    "Action",
    "AlertOutcome",
    "Correction",
    "Decision",
    "QueueItem",
    "Score",
    "TicketStatus",
    "TicketStatusDocument",
    "UrgencyLabel",
    "excerpt",
    "is_ticket_id",
    "score_text",
    "text_values",
    "ticket_text",
    "urgency_label",
]

#: The text fields a ticket may carry, in the order the models read them.
TEXT_FIELDS = ("subject", "body", "description")

#: What MVR's ticket ids look like: 32 lowercase hex digits (a uuid4 without dashes).
_TICKET_ID = re.compile(r"[0-9a-f]{32}")

#: ``alert_reason`` with ``MVR_ALERT_DELIVERY=at-most-once`` when a worker died while posting:
#: Slack may or may not have the message, and posting again could send it twice, so MVR does not.
UNKNOWN_DELIVERY = "delivery unknown: a worker stopped while posting; not re-sent to avoid a duplicate"


class TicketStatus(StrEnum):
    """Where a ticket is in its life.

    ``pending → completed | failed`` (``processing`` in between while a worker that had to
    claim the ticket to read it holds it); then for people ``completed → taken``
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


class Action(StrEnum):
    """What people may do to a decided ticket: ``POST /tickets/{id}/{action}``."""

    RESOLVE = "resolve"
    REQUEUE = "requeue"
    CATEGORY = "category"


#: The actions allowed in each status. Taking (``completed`` → ``taken``) is
#: ``GET /tickets/next``, which picks the ticket itself.
ACTIONS: dict[str, tuple[Action, ...]] = {
    TicketStatus.COMPLETED: (Action.CATEGORY,),
    TicketStatus.TAKEN: (Action.RESOLVE, Action.REQUEUE, Action.CATEGORY),
    TicketStatus.RESOLVED: (Action.CATEGORY,),
}


class UrgencyLabel(StrEnum):
    """Urgency S in words: ``low`` (S < 0.4), ``medium`` (0.4 ≤ S ≤ 0.8), ``high`` (S > 0.8)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


#: S below this is ``low``.
LOW_BELOW = 0.4
#: S strictly above this is ``high``.
HIGH_ABOVE = 0.8


def urgency_label(score: float) -> UrgencyLabel:
    """Return the ``UrgencyLabel`` of S."""
    if score < LOW_BELOW:
        return UrgencyLabel.LOW
    return UrgencyLabel.HIGH if score > HIGH_ABOVE else UrgencyLabel.MEDIUM


@dataclass(frozen=True)
class Decision:
    """Category and urgency of one ticket, with the reasons; every backend returns one.

    Attributes:
        category: The most probable category name.
        scores: Probability per category; the values sum to 1.
        urgency_score: Urgency S, in [0, 1].
        urgency_label: ``low``, ``medium`` or ``high`` (see ``urgency_label``).
        explanation: ``backend``, ``model``, ``model_version``, ``fallback``,
            ``fallback_reason`` and ``urgency`` (the parts S was made of).
    """

    category: str
    scores: dict[str, float]
    urgency_score: float
    urgency_label: str
    explanation: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Return the decision as plain JSON-ready data."""
        return asdict(self)


class AlertOutcome(StrEnum):
    """What became of a ticket's Slack alert."""

    NONE = "none"
    PENDING = "pending"
    SENT = "sent"
    MOCK = "mock"
    FAILED = "failed"


Score = Annotated[float, Meta(ge=0, le=1)]


class Correction(msgspec.Struct):
    """A person's correction, shown next to MVR's own decision."""

    category: str
    urgency_score: Score | None
    corrected_at: str


class TicketStatusDocument(msgspec.Struct, omit_defaults=True):
    """A ticket's status; decision fields appear once it is completed (and stay when taken, resolved).

    ``actions`` lists what ``POST /tickets/{id}/{action}`` accepts in this status. The ticket's
    non-blank text fields are included, as they were submitted.
    """

    ticket_id: str
    status: TicketStatus
    created_at: str
    updated_at: str
    actions: list[Action]
    subject: str | None = None
    body: str | None = None
    description: str | None = None
    category: str | None = None
    urgency_score: Score | None = None
    urgency_label: UrgencyLabel | None = None
    scores: dict[str, float] | None = None
    explanation: dict[str, Any] | None = None
    alert: AlertOutcome | None = None
    alert_reason: str | None = None
    failure_reason: str | None = None
    taken_at: str | None = None
    lease_expires_at: str | None = None
    resolved_at: str | None = None
    correction: Correction | None = None


class QueueItem(msgspec.Struct, omit_defaults=True):
    """One ticket in /queue: ``subject`` is null when the ticket has none."""

    ticket_id: str
    status: TicketStatus
    created_at: str
    subject: str | None
    excerpt: Annotated[str, Meta(description="The start of the body (or description), on one line.")]
    urgency_score: Score | None = None
    urgency_label: UrgencyLabel | None = None
    category: str | None = None
    alert: AlertOutcome | None = None
    correction: Correction | None = None


#: Characters of body text in a queue item's ``excerpt``.
EXCERPT_CHARS = 160


def excerpt(text: str) -> str:
    """Return the start of a ticket's text on one line, at most ``EXCERPT_CHARS`` characters."""
    # PERF: only the head is split; splitting a whole 600-byte body per queue item doubled
    # the Python cost of a /queue page (bench_queue, FIFO change).
    head = text[: 2 * EXCERPT_CHARS]
    flat = " ".join(head.split())
    if len(flat) <= EXCERPT_CHARS and len(head) == len(text):
        return flat
    return flat[: EXCERPT_CHARS - 1].rstrip() + "…"


def is_ticket_id(text: str) -> bool:
    """Tell whether ``text`` can be a ticket id (anything else names no ticket)."""
    return _TICKET_ID.fullmatch(text) is not None


def text_values(fields: dict[str, str]) -> list[str]:
    """Return a ticket's text fields in ``TEXT_FIELDS`` order, "" for an absent one."""
    return [fields.get(name, "") for name in TEXT_FIELDS]


def ticket_text(subject: str = "", body: str = "", description: str = "") -> str:
    """Join the non-blank text fields of a ticket, one per line, for the classifier."""
    return "\n".join(part.strip() for part in (subject, body, description) if part and part.strip())


def score_text(score: float) -> str:
    """Return S with two decimals, cut rather than rounded: 0.9985 is "0.99", never "1.00"."""
    return str(Decimal(repr(score)).quantize(Decimal("0.01"), rounding=ROUND_DOWN))
