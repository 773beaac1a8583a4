"""MVR's exception tree.

    MVRError
    ├── ConfigError             A setting holds a value MVR cannot use (also a ValueError).
    ├── CategoriesFileInvalid   A categories file is not a list of well-formed categories.
    ├── ApiError                The `mvr` CLI could not reach MVR's API, or it answered an error.
    │   └── NothingWaiting      GET /tickets/next found no completed ticket.
    ├── ResourceBusy            A port or data directory MVR needs is held by another process.
    ├── StoreUnavailable        Redis cannot be reached in time.
    ├── TicketNotFound          No ticket has that id.
    ├── TransitionNotAllowed    A ticket's status does not allow that action (carries the status).
    ├── IdempotencyConflict     The key was used before with a different body.
    ├── ValidationFailed        A request body breaks the contract (carries field errors).
    ├── InferenceFailed         A model could not produce a decision.
    ├── SlackRejected           Slack refused an alert for good (carries the reason).
    └── SlackUnavailable        Slack failed or could not be reached; retrying may help.
        ├── SlackUnreachable    No connection to Slack: nothing was sent.
        └── SlackRateLimited    Slack answered 429 (carries retry_after_s).

``mvr.web`` maps these to JSON HTTP errors; store and inference code never raise
``falcon.HTTP*``.
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "CategoriesFileInvalid",
    "ConfigError",
    "IdempotencyConflict",
    "InferenceFailed",
    "MVRError",
    "NothingWaiting",
    "ResourceBusy",
    "SlackRateLimited",
    "SlackRejected",
    "SlackUnavailable",
    "SlackUnreachable",
    "StoreUnavailable",
    "TicketNotFound",
    "TransitionNotAllowed",
    "ValidationFailed",
]


class MVRError(Exception):
    """Base class of every MVR error."""


class ConfigError(MVRError, ValueError):
    """A configuration variable holds a value MVR cannot use."""


class CategoriesFileInvalid(MVRError):
    """A categories file is not a list of well-formed categories."""


class ApiError(MVRError):
    """MVR could not be reached, or answered with an error (the message says which)."""


class NothingWaiting(ApiError):
    """GET /tickets/next found no completed ticket."""


class ResourceBusy(MVRError):
    """A port or data directory MVR needs is held by another process."""


class StoreUnavailable(MVRError):
    """Redis did not answer in time."""


class TicketNotFound(MVRError):
    """No ticket has that id."""


class TransitionNotAllowed(MVRError):
    """A ticket's current status does not allow the requested action."""

    def __init__(self, action: str, status: str, allowed_from: tuple[str, ...]) -> None:
        super().__init__(
            f"cannot {action} a ticket that is {status} (only a {' or '.join(allowed_from)} one)"
        )
        #: The action asked for, e.g. ``resolve``.
        self.action = action
        #: The ticket's status when the action was refused.
        self.status = status


class IdempotencyConflict(MVRError):
    """An Idempotency-Key was reused with a different request body."""


class ValidationFailed(MVRError):
    """A request body breaks the API contract."""

    def __init__(self, fields: list[dict[str, str | None]]) -> None:
        super().__init__("; ".join(f"{f['field'] or 'request'}: {f['message']}" for f in fields))
        #: One ``{"field", "message"}`` entry per problem; ``field`` is None when the
        #: problem is the request as a whole, not one of its fields.
        self.fields = fields


class InferenceFailed(MVRError):
    """A model could not produce a decision."""


class SlackRejected(MVRError):
    """Slack refused an alert and retrying will not help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        #: Slack's answer, e.g. ``invalid_payload``.
        self.reason = reason


class SlackUnavailable(MVRError):
    """Slack failed (5xx) or could not be reached in time; retrying may help."""


class SlackUnreachable(SlackUnavailable):
    """No connection to Slack could be made, so nothing was sent."""


class SlackRateLimited(SlackUnavailable):
    """Slack answered 429 and asked to wait ``retry_after_s`` seconds."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"rate limited by Slack; retry after {retry_after_s:g} s")
        #: Seconds to wait before the next attempt (from ``Retry-After``).
        self.retry_after_s = retry_after_s
