"""Slack incoming webhooks: message format, escaping, posting and the webhook self-test.

This module has no retry policy: ``post`` classifies Slack's answer and the alert
actor (``mvr.actors.alert``) decides what to do with it.

    200 ``ok``                    -> PostResult (sent)
    429                           -> SlackRateLimited(retry_after_s)
    no connection                 -> SlackUnreachable(reason): nothing was sent
    5xx, timeouts, network errors -> SlackUnavailable(reason)
    any other answer              -> SlackRejected(reason), e.g. ``HTTP 400: invalid_payload``

The webhook URL is a secret: only ``redact_webhook(url)`` ever reaches a log line.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx

from mvr.errors import SlackRateLimited, SlackRejected, SlackUnavailable, SlackUnreachable
from mvr.ticket import score_text

if TYPE_CHECKING:
    from mvr.config import Settings

__all__ = [
    "NOTHING_SENT",
    "OK_MESSAGE",
    "POSSIBLE_REPEAT",
    "PostResult",
    "build_message",
    "escape",
    "log_webhook_status",
    "post",
    "redact_http_logs",
    "redact_webhook",
    "send_test_message",
]

logger = logging.getLogger(__name__)

#: What `mvr slack-test` prints when Slack accepted the test message.
OK_MESSAGE = "OK: Message sent to Slack. Check your channel."
#: How a failed test message ends when no request left for Slack (unset or invalid URL, no connection).
NOTHING_SENT = "Nothing was sent."
#: How an alert says that an earlier post of it may have reached Slack already.
POSSIBLE_REPEAT = "possible repeat: an earlier delivery of this alert was interrupted"
#: Seconds the test message waits for Slack.
TEST_TIMEOUT_S = 10.0
#: Wait, in seconds, when a 429 carries no usable ``Retry-After`` (e.g. an HTTP date).
DEFAULT_RETRY_AFTER_S = 1.0
#: Longest wait, in seconds, honoured from ``Retry-After`` (guards against absurd values).
MAX_RETRY_AFTER_S = 300.0
#: Characters of body/description quoted in an alert.
EXCERPT_CHARS = 300
#: Characters of the subject shown in an alert.
SUBJECT_CHARS = 150
#: Characters of Slack's error answer kept in a reason.
REASON_CHARS = 200

_BARE_MENTION = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_ZERO_WIDTH_SPACE = "\u200b"


@dataclass(frozen=True)
class PostResult:
    """Slack accepted a message.

    Attributes:
        status_code: The HTTP status Slack answered (200).
        elapsed_ms: Time from sending the request to reading the answer, in milliseconds.
    """

    status_code: int
    elapsed_ms: float


def escape(text: str) -> str:
    """Escape text for Slack mrkdwn and neutralise every mention in it.

    ``&``, ``<`` and ``>`` become entities, as Slack requires; this also turns
    ``<!channel>``, ``<!here>`` and ``<@U123>`` into plain text. A zero-width space
    after ``@`` defuses bare ``@channel``, ``@here`` and ``@everyone``.
    """
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BARE_MENTION.sub(lambda m: f"@{_ZERO_WIDTH_SPACE}{m.group(1)}", escaped)


def build_message(
    ticket: dict[str, str], settings: Settings, *, possible_repeat: bool = False
) -> dict[str, Any]:
    """Return the Slack payload (``text`` and ``blocks``) alerting about one urgent ticket.

    Args:
        ticket: The raw ticket hash (``ticket_id``, text fields and the decision).
        settings: Gives ``public_url`` for the status link.
        possible_repeat: Say ``POSSIBLE_REPEAT`` (an earlier post was interrupted).
    """
    ticket_id = ticket["ticket_id"]
    score = score_text(float(ticket.get("urgency_score") or 0.0))
    label = escape(ticket.get("urgency_label", ""))
    category = escape(ticket.get("category", ""))
    subject = escape(_shorten(ticket.get("subject", ""), SUBJECT_CHARS) or "(no subject)")
    excerpt = escape(_shorten(ticket.get("body") or ticket.get("description") or "", EXCERPT_CHARS))
    cues = _cues(ticket)
    headline = f"*Urgent ticket* `{escape(ticket_id)}`\n*S:* {score} ({label}) · *Category:* {category}"
    if cues:
        headline += f"\n*Cues:* {escape(', '.join(cues))}"
    blocks: list[dict[str, Any]] = [
        _section(headline),
        _section(f"*Subject:* {subject}" + (f"\n>{excerpt}" if excerpt else "")),
        {
            "type": "context",
            "elements": [_mrkdwn(f"<{_status_url(ticket_id, settings)}|View ticket status>")],
        },
    ]
    text = f"Urgent ticket {escape(ticket_id)} (S={score}, {label}, {category}): {subject}"
    if possible_repeat:
        blocks.insert(0, {"type": "context", "elements": [_mrkdwn(f"_{POSSIBLE_REPEAT}_")]})
        text += f" ({POSSIBLE_REPEAT})"
    return {"text": text, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}


def _cues(ticket: dict[str, str]) -> list[str]:
    """Return the urgency cues of the ticket's explanation (none when it has no explanation)."""
    explanation = json.loads(ticket.get("explanation") or "{}")
    return [str(cue) for cue in explanation.get("urgency", {}).get("cues", [])]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _status_url(ticket_id: str, settings: Settings) -> str:
    url = f"{settings.public_url.rstrip('/')}/tickets/{quote(ticket_id, safe='')}/status"
    # Inside <url|label> Slack needs the same three escapes; "|" cannot occur after quote().
    return url.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def post(url: str, payload: dict[str, Any], timeout_s: float) -> PostResult:
    """Post ``payload`` to a Slack incoming webhook and classify the answer.

    Args:
        url: The webhook URL (a secret: never logged, never put in an error).
        payload: The JSON message, e.g. from ``build_message``.
        timeout_s: Seconds allowed for each of connect, write and read.

    Returns:
        The accepted post (Slack answered 200 ``ok``).

    Raises:
        SlackRateLimited: Slack answered 429; wait ``retry_after_s`` seconds.
        SlackUnavailable: Slack answered 5xx, timed out or could not be reached.
        SlackRejected: Any other answer, or an unusable URL; retrying will not help.
    """
    try:
        with httpx.Client(timeout=timeout_s) as client:
            response = client.post(url, json=payload)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        raise SlackRejected("SLACK_WEBHOOK_URL is not a valid http(s) URL") from None
    except httpx.ConnectTimeout:
        raise SlackUnreachable(f"cannot reach Slack: no connection within {timeout_s:g} s") from None
    except httpx.ConnectError as ex:
        # httpx connect errors name the host at most, never the path that holds the secret.
        raise SlackUnreachable(f"cannot reach Slack: {type(ex).__name__}: {ex}") from None
    except httpx.TimeoutException:
        raise SlackUnavailable(f"Slack did not answer within {timeout_s:g} s") from None
    except httpx.TransportError as ex:
        # httpx transport errors name the host at most, never the path that holds the secret.
        raise SlackUnavailable(f"cannot reach Slack: {type(ex).__name__}: {ex}") from None
    return _classify(response)


def _classify(response: httpx.Response) -> PostResult:
    code = response.status_code
    body = " ".join(response.text.split())[:REASON_CHARS]
    if 200 <= code < 300 and body == "ok":
        return PostResult(code, response.elapsed.total_seconds() * 1000)
    if code == 429:
        raise SlackRateLimited(_retry_after_s(response.headers.get("Retry-After")))
    reason = f"HTTP {code}: {body}" if body else f"HTTP {code}"
    if code >= 500:
        raise SlackUnavailable(reason)
    raise SlackRejected(reason)


def _retry_after_s(value: str | None) -> float:
    try:
        seconds = float(value) if value is not None else DEFAULT_RETRY_AFTER_S
    except ValueError:
        seconds = DEFAULT_RETRY_AFTER_S
    if not seconds >= 0:  # negative or NaN
        seconds = DEFAULT_RETRY_AFTER_S
    return min(seconds, MAX_RETRY_AFTER_S)


def redact_webhook(url: str) -> str:
    """Return ``url`` without its secret: scheme, host and ``/services/…`` only.

    ``https://hooks.slack.com/services/T0/B0/XYZ`` becomes
    ``https://hooks.slack.com/services/…``; other paths become ``/…``.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(invalid URL)"
    if not parts.scheme or not host:
        return "(invalid URL)"
    path = "/services/…" if parts.path.startswith("/services/") else "/…"
    return f"{parts.scheme}://{host}{port}{path}"


def log_webhook_status(settings: Settings) -> None:
    """Log whether alerts go to Slack ("configured") or only to the log ("not set")."""
    if settings.slack_webhook_url:
        logger.info("Slack webhook: configured url=%s.", redact_webhook(settings.slack_webhook_url))
    else:
        logger.info('Slack webhook: not set; alerts are logged as "Mock webhook would fire".')


def send_test_message(settings: Settings) -> str | None:
    """Post one test message to ``SLACK_WEBHOOK_URL``.

    Returns:
        None when Slack accepted the message, otherwise why it did not (for people to read).
    """
    url = settings.slack_webhook_url
    if not url:
        return f"SLACK_WEBHOOK_URL is not set (set it in the environment or in .env). {NOTHING_SENT}"
    try:
        post(url, _test_payload(settings), TEST_TIMEOUT_S)
    except SlackRejected as ex:
        return f"Slack rejected the message: {ex.reason}. Check SLACK_WEBHOOK_URL. Nothing was posted."
    except SlackRateLimited as ex:
        return (
            f"Slack is rate limiting this webhook; try again in {ex.retry_after_s:g} s. Nothing was posted."
        )
    except SlackUnreachable as ex:
        return f"{ex}. {NOTHING_SENT}"
    except SlackUnavailable as ex:
        return f"could not deliver the message: {ex}."
    return None


def _test_payload(settings: Settings) -> dict[str, Any]:
    text = f"MVR test message: urgent-ticket alerts from {escape(settings.public_url)} will appear here."
    return {"text": text}


class _RedactUrls(logging.Filter):
    """Redact URLs in httpx's "HTTP Request: POST <url>" lines, which would expose the secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(arg) for arg in record.args)
        return True


def _redact_arg(arg: object) -> object:
    if isinstance(arg, httpx.URL) or (isinstance(arg, str) and arg.startswith(("http://", "https://"))):
        return redact_webhook(str(arg))
    return arg


def redact_http_logs() -> None:
    """Make httpx's request log lines show webhook URLs redacted (idempotent)."""
    http_logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactUrls) for f in http_logger.filters):
        http_logger.addFilter(_RedactUrls())
