"""Request shapes and response envelopes of the HTTP API (msgspec structs).

They validate input and, with the ticket's own Structs in ``mvr.ticket``, are the
single source of the OpenAPI schemas.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from mvr.errors import ValidationFailed
from mvr.ticket import TEXT_FIELDS, QueueItem, Score

__all__ = [
    "MAX_BODY_CHARS",
    "MAX_IDEMPOTENCY_KEY_CHARS",
    "MAX_REQUEST_BYTES",
    "MAX_SUBJECT_CHARS",
    "CorrectionIn",
    "ErrorOut",
    "QueuePageOut",
    "TicketAccepted",
    "TicketIn",
    "parse_correction",
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
    """A new ticket: at least one field must be non-blank; null means absent; unknown fields are rejected."""

    subject: Subject | None = None
    body: LongText | None = None
    description: LongText | None = None


class CorrectionIn(msgspec.Struct, forbid_unknown_fields=True):
    """A person's category for a ticket and, optionally, its urgency S."""

    category: Annotated[str, Meta(description="One of MVR's categories.")]
    urgency_score: Score | None = None


class TicketAccepted(msgspec.Struct):
    """Answer to POST /tickets."""

    ticket_id: str
    status: Literal["accepted"]
    status_url: str


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
            {"required": [name], "properties": {name: {"type": "string", "pattern": NON_BLANK_PATTERN}}}
            for name in TEXT_FIELDS
        ]
    }


_ticket_decoder = msgspec.json.Decoder(TicketIn)
_correction_decoder = msgspec.json.Decoder(CorrectionIn)


def parse_ticket(data: bytes) -> dict[str, str]:
    """Validate a POST /tickets body and return its non-blank fields.

    Raises:
        msgspec.DecodeError: ``data`` is not JSON (the caller answers 400).
        ValidationFailed: JSON that breaks the contract (422).
    """
    ticket = _decode(_ticket_decoder, data)
    fields = {name: getattr(ticket, name) for name in TicketIn.__struct_fields__}
    present = {name: value for name, value in fields.items() if value is not None and value.strip()}
    if not present:
        raise ValidationFailed(
            [{"field": None, "message": "at least one of subject, body, description must be non-blank"}]
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


def parse_correction(data: bytes, categories: tuple[str, ...]) -> tuple[str, float | None]:
    """Validate a POST /tickets/{id}/category body: ``(category, urgency_score or None)``.

    Raises:
        msgspec.DecodeError: ``data`` is not JSON (400).
        ValidationFailed: JSON that breaks the contract, or an unknown category (422).
    """
    correction = _decode(_correction_decoder, data)
    if correction.category not in categories:
        raise ValidationFailed(
            [{"field": "category", "message": f"unknown category; one of {', '.join(categories)}"}]
        )
    return correction.category, correction.urgency_score


def _decode(decoder: msgspec.json.Decoder[Any], data: bytes) -> Any:
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as ex:
        raise ValidationFailed(_field_errors(str(ex), data, decoder.type)) from ex


def _field_errors(message: str, data: bytes, struct: Any) -> list[dict[str, str | None]]:
    """Turn msgspec's "Expected ... - at `$.subject`" into field errors (every unknown field listed)."""
    text, _, path = message.partition(" - at `")
    if text.startswith("Object contains unknown field"):
        given = msgspec.json.decode(data)  # a JSON object, or msgspec would not have got this far
        unknown = [name for name in given if name not in struct.__struct_fields__]
        return [{"field": name, "message": "unknown field"} for name in unknown]
    field = path.rstrip("`").removeprefix("$.").removeprefix("$") or None
    if text.startswith("Object missing required field"):
        field, text = text.split("`")[1], "required field"
    return [{"field": field, "message": text}]
