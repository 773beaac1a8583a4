"""Request and response shapes of the HTTP API (msgspec structs).

They validate input and are the single source of the OpenAPI schemas.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from mvr.errors import ValidationFailed

__all__ = [
    "MAX_BODY_CHARS",
    "MAX_IDEMPOTENCY_KEY_CHARS",
    "MAX_REQUEST_BYTES",
    "MAX_SUBJECT_CHARS",
    "ErrorOut",
    "QueueItem",
    "QueuePageOut",
    "TicketAccepted",
    "TicketIn",
    "TicketStatusOut",
    "parse_idempotency_key",
    "parse_ticket",
]

#: Longest subject, in characters.
MAX_SUBJECT_CHARS = 500
#: Longest body or description, in characters.
MAX_BODY_CHARS = 20_000
#: Longest ``Idempotency-Key`` header, in characters.
MAX_IDEMPOTENCY_KEY_CHARS = 255
#: Most bytes one character can take in JSON: a character beyond the BMP written as a
#: ``\uXXXX\uXXXX`` surrogate pair.
_MAX_JSON_BYTES_PER_CHAR = 12
#: Room for the field names, quotes, separators and some whitespace.
_JSON_FRAME_BYTES = 4 * 1024
#: Largest accepted request body, in bytes: set from the field limits, so that any body within
#: them fits however it is encoded (about 479 KiB).
MAX_REQUEST_BYTES = _MAX_JSON_BYTES_PER_CHAR * (MAX_SUBJECT_CHARS + 2 * MAX_BODY_CHARS) + _JSON_FRAME_BYTES

Subject = Annotated[str, Meta(max_length=MAX_SUBJECT_CHARS, description="Ticket subject line.")]
LongText = Annotated[str, Meta(max_length=MAX_BODY_CHARS)]


class TicketIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new ticket: at least one field must be non-blank; unknown fields are rejected."""

    subject: Subject = ""
    body: LongText = ""
    description: LongText = ""


class TicketAccepted(msgspec.Struct):
    """Answer to POST /tickets."""

    ticket_id: str
    status: Literal["accepted"]
    status_url: str


Status = Literal["pending", "processing", "completed", "failed"]
Label = Literal["low", "medium", "high"]
Alert = Literal["none", "pending", "sent", "mock", "failed"]


class TicketStatusOut(msgspec.Struct, omit_defaults=True):
    """A ticket's status; decision fields appear once it is completed."""

    ticket_id: str
    status: Status
    created_at: str
    updated_at: str
    category: str | None = None
    urgency_score: Annotated[float, Meta(ge=0, le=1)] | None = None
    urgency_label: Label | None = None
    scores: dict[str, float] | None = None
    explanation: dict[str, Any] | None = None
    alert: Alert | None = None
    alert_reason: str | None = None
    failure_reason: str | None = None


class QueueItem(msgspec.Struct, omit_defaults=True):
    """One ticket in /queue."""

    ticket_id: str
    status: Status
    created_at: str
    urgency_score: float | None = None
    urgency_label: Label | None = None
    category: str | None = None
    subject: str | None = None


class QueuePageOut(msgspec.Struct):
    """A page of /queue."""

    items: list[QueueItem]
    total: int
    limit: int
    offset: int


class ErrorOut(msgspec.Struct):
    """Every error answer: a short title and what exactly is wrong."""

    error: str
    detail: Any


#: Characters ``str.strip()`` removes: a field made only of these is blank.
_WHITESPACE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
#: JSON Schema pattern of a non-blank string (at least one non-whitespace character).
NON_BLANK_PATTERN = "[^" + "".join(f"\\u{ord(c):04x}" for c in _WHITESPACE) + "]"


def ticket_in_schema_extra() -> dict[str, Any]:
    """Return the "at least one non-blank field" rule as JSON Schema, for OpenAPI."""
    return {
        "anyOf": [
            {"required": [name], "properties": {name: {"pattern": NON_BLANK_PATTERN}}}
            for name in ("subject", "body", "description")
        ]
    }


_ticket_decoder = msgspec.json.Decoder(TicketIn)


def parse_ticket(data: bytes) -> dict[str, str]:
    """Validate a POST /tickets body and return its non-blank fields.

    Raises:
        msgspec.DecodeError: ``data`` is not JSON (the caller answers 400).
        ValidationFailed: JSON that breaks the contract (422).
    """
    try:
        ticket = _ticket_decoder.decode(data)
    except msgspec.ValidationError as ex:
        raise ValidationFailed([_field_error(str(ex))]) from ex
    fields = {name: getattr(ticket, name) for name in ("subject", "body", "description")}
    present = {name: value for name, value in fields.items() if value.strip()}
    if not present:
        raise ValidationFailed(
            [{"field": "body", "message": "at least one of subject, body, description must be non-blank"}]
        )
    return present


def parse_idempotency_key(value: str | None) -> str | None:
    """Return the ``Idempotency-Key`` header, or None when absent.

    Raises:
        ValidationFailed: The key is longer than ``MAX_IDEMPOTENCY_KEY_CHARS`` (422).
    """
    if value is not None and len(value) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise ValidationFailed(
            [
                {
                    "field": "Idempotency-Key",
                    "message": f"must be at most {MAX_IDEMPOTENCY_KEY_CHARS} characters (got {len(value)})",
                }
            ]
        )
    return value


def _field_error(message: str) -> dict[str, str]:
    """Split msgspec's "Expected ... - at `$.subject`" into field and message."""
    text, _, path = message.partition(" - at `")
    field = path.rstrip("`").removeprefix("$.").removeprefix("$") or "body"
    if text.startswith("Object contains unknown field"):
        field = text.split("`")[1]
        text = "unknown field"
    return {"field": field, "message": text}
