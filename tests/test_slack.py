"""Slack message format, escaping, answer classification, redaction and the self-test.

Every post goes over real HTTP to ``FakeSlack`` on 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mvr import slack
from mvr.config import Settings
from mvr.errors import SlackRateLimited, SlackRejected, SlackUnavailable, SlackUnreachable
from tests.fake_slack import FakeSlack, Reply, fake_slack_fixture  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parent.parent

TICKET = {
    "ticket_id": "0123abcd",
    "subject": "Payment failed <!channel> & @here",
    "body": "Card declined <script>alert(1)</script> & <@U123> " * 20,
    "description": "",
    "urgency_score": "0.934",
    "urgency_label": "high",
    "category": "billing",
}


@pytest.mark.parametrize(
    "text,expected",
    [
        ("a & b", "a &amp; b"),
        ("<script>x</script>", "&lt;script&gt;x&lt;/script&gt;"),
        ("<!channel> <!here> <@U123>", "&lt;!channel&gt; &lt;!here&gt; &lt;@U123&gt;"),
        ("@channel @Here @everyone", "@\u200bchannel @\u200bHere @\u200beveryone"),
        ("mail me@channelfour.com", "mail me@channelfour.com"),
        ("&amp;", "&amp;amp;"),
    ],
)
def test_escape_neutralises_entities_and_mentions(text: str, expected: str) -> None:
    assert slack.escape(text) == expected


def test_message_shows_decision_excerpt_and_status_link() -> None:
    # Given an urgent ticket and a public URL with a trailing slash
    settings = Settings(public_url="https://mvr.example.com/")

    # When the alert is built
    message = slack.build_message(TICKET, settings)

    # Then it carries id, S with 2 decimals, label, category, subject, an excerpt and the link
    everything = message["text"] + " ".join(_block_texts(message))
    for part in ("0123abcd", "0.93", "high", "billing", "Payment failed"):
        assert part in everything
    assert "<https://mvr.example.com/tickets/0123abcd/status|View ticket status>" in everything
    excerpt = _block_texts(message)[1].split("\n>", 1)[1]
    assert excerpt.startswith("Card declined &lt;script&gt;")
    assert len(excerpt.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")) <= 300


@pytest.mark.parametrize(
    ("score", "shown"),
    [(0.9985, "0.99"), (0.999999, "0.99"), (0.29, "0.29"), (1.0, "1.00"), (0.8101, "0.81")],
)
def test_message_shows_s_with_two_decimals_cut_not_rounded(score: float, shown: str) -> None:
    message = slack.build_message({**TICKET, "urgency_score": repr(score)}, Settings())

    assert f"S={shown}," in message["text"]
    assert f"*S:* {shown} (" in _block_texts(message)[0]


def test_message_lists_the_urgency_cues() -> None:
    explanation = {"urgency": {"cues": ["outage", "legal <threat>"], "sentiment_negative": 0.9}}
    ticket = {**TICKET, "explanation": json.dumps(explanation)}

    headline = _block_texts(slack.build_message(ticket, Settings()))[0]

    assert "*Cues:* outage, legal &lt;threat&gt;" in headline


def test_message_never_carries_raw_control_sequences() -> None:
    message = slack.build_message(TICKET, Settings())
    texts = [message["text"], *_block_texts(message)]
    for raw in ("<!channel>", "<script>", "<@U123>", " & ", "@here"):
        assert not any(raw in text for text in texts), raw


def test_message_without_subject_or_body() -> None:
    message = slack.build_message({"ticket_id": "x1", "urgency_score": "0.9"}, Settings())
    assert "(no subject)" in message["text"]
    assert "\n>" not in _block_texts(message)[1]


def _block_texts(message: dict) -> list[str]:
    texts = []
    for block in message["blocks"]:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts.extend(element["text"] for element in block.get("elements", []))
    return texts


def test_post_ok_is_sent(fake_slack: FakeSlack) -> None:
    result = slack.post(fake_slack.url, {"text": "hi"}, timeout_s=5)

    assert result.status_code == 200
    assert [r.json() for r in fake_slack.requests] == [{"text": "hi"}]


@pytest.mark.parametrize(
    "reply,retry_after_s",
    [
        (Reply(429, "rate_limited", {"Retry-After": "2"}), 2.0),
        (Reply(429, "rate_limited"), slack.DEFAULT_RETRY_AFTER_S),
        (Reply(429, "rate_limited", {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}), 1.0),
        (Reply(429, "rate_limited", {"Retry-After": "-5"}), 1.0),
        (Reply(429, "rate_limited", {"Retry-After": "99999"}), slack.MAX_RETRY_AFTER_S),
    ],
    ids=["seconds", "missing", "http-date", "negative", "capped"],
)
def test_post_429_is_rate_limited(fake_slack: FakeSlack, reply: Reply, retry_after_s: float) -> None:
    fake_slack.script(reply)

    with pytest.raises(SlackRateLimited) as caught:
        slack.post(fake_slack.url, {"text": "hi"}, timeout_s=5)

    assert caught.value.retry_after_s == retry_after_s


@pytest.mark.parametrize(
    "reply,error,reason",
    [
        (Reply(500, "oops"), SlackUnavailable, "HTTP 500: oops"),
        (Reply(503, ""), SlackUnavailable, "HTTP 503"),
        (Reply(400, "invalid_payload"), SlackRejected, "HTTP 400: invalid_payload"),
        (Reply(404, "channel_not_found"), SlackRejected, "HTTP 404: channel_not_found"),
        (Reply(410, "no_service"), SlackRejected, "HTTP 410: no_service"),
        (Reply(403, "invalid_token"), SlackRejected, "HTTP 403: invalid_token"),
        (Reply(200, "<html>proxy login</html>"), SlackRejected, "HTTP 200: <html>proxy login</html>"),
    ],
)
def test_post_classifies_failures(fake_slack: FakeSlack, reply: Reply, error: type, reason: str) -> None:
    fake_slack.script(reply)

    with pytest.raises(error) as caught:
        slack.post(fake_slack.url, {"text": "hi"}, timeout_s=5)

    assert str(caught.value) == reason
    assert len(fake_slack.requests) == 1


def test_post_timeout_is_unavailable(fake_slack: FakeSlack) -> None:
    fake_slack.script(Reply(delay_s=1.0))

    with pytest.raises(SlackUnavailable, match="did not answer within 0.2 s"):
        slack.post(fake_slack.url, {"text": "hi"}, timeout_s=0.2)


def test_post_connection_refused_is_unavailable_without_secret() -> None:
    url = f"http://127.0.0.1:{_free_port()}/services/T/B/topsecret"

    with pytest.raises(SlackUnreachable, match="cannot reach Slack") as caught:
        slack.post(url, {"text": "hi"}, timeout_s=2)

    assert "topsecret" not in str(caught.value)


def test_post_invalid_url_is_rejected() -> None:
    with pytest.raises(SlackRejected, match="not a valid http"):
        slack.post("hooks.slack.com/services/T/B/topsecret", {"text": "hi"}, timeout_s=2)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    "url,expected",
    [
        ("https://hooks.slack.com/services/T0/B0/XYZ", "https://hooks.slack.com/services/…"),
        ("https://user:pw@hooks.slack.com/services/T0/B0/XYZ?x=1", "https://hooks.slack.com/services/…"),
        ("http://127.0.0.1:8080/hook/XYZ", "http://127.0.0.1:8080/…"),
        ("not a url", "(invalid URL)"),
        ("http://host:99999999/services/X", "(invalid URL)"),
    ],
)
def test_redact_webhook_keeps_only_scheme_host_and_services(url: str, expected: str) -> None:
    assert slack.redact_webhook(url) == expected


def test_test_message_reaches_slack(fake_slack: FakeSlack) -> None:
    failure = slack.send_test_message(Settings(slack_webhook_url=fake_slack.url))

    assert failure is None
    assert len(fake_slack.requests) == 1
    assert "MVR test message" in fake_slack.requests[0].json()["text"]


@pytest.mark.parametrize(
    "reply,reason",
    [
        (
            Reply(404, "no_service"),
            "Slack rejected the message: HTTP 404: no_service. Check SLACK_WEBHOOK_URL. Nothing was posted.",
        ),
        (Reply(429, "rate_limited", {"Retry-After": "3"}), "try again in 3 s. Nothing was posted."),
        (Reply(502, "bad gateway"), "could not deliver the message: HTTP 502: bad gateway"),
    ],
)
def test_test_message_failure_names_the_reason(fake_slack: FakeSlack, reply: Reply, reason: str) -> None:
    fake_slack.script(reply)

    failure = slack.send_test_message(Settings(slack_webhook_url=fake_slack.url))

    assert failure is not None and reason in failure
    assert fake_slack.secret not in failure


def test_test_message_without_webhook() -> None:
    failure = slack.send_test_message(Settings())

    assert failure == "SLACK_WEBHOOK_URL is not set (set it in the environment or in .env). Nothing was sent."


def test_test_message_says_nothing_was_sent_when_slack_cannot_be_reached() -> None:
    url = f"http://127.0.0.1:{_free_port()}/services/T/B/topsecret"

    failure = slack.send_test_message(Settings(slack_webhook_url=url))

    assert failure is not None
    assert failure.startswith("cannot reach Slack: ConnectError")
    assert failure.endswith("Nothing was sent.")
    assert "topsecret" not in failure


def test_slack_test_prints_ok_and_never_the_secret(fake_slack: FakeSlack, tmp_path: Path) -> None:
    done = _run_script({**os.environ, "SLACK_WEBHOOK_URL": fake_slack.url}, tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("OK: Message sent to Slack. Check your channel.")
    assert fake_slack.secret not in done.stdout + done.stderr


def test_slack_test_prints_the_failure_on_stderr(fake_slack: FakeSlack, tmp_path: Path) -> None:
    fake_slack.script(Reply(404, "no_service"))

    done = _run_script({**os.environ, "SLACK_WEBHOOK_URL": fake_slack.url}, tmp_path)

    assert done.returncode == 1
    assert "FAILED: Slack rejected the message: HTTP 404: no_service." in done.stderr
    assert "OK:" not in done.stdout
    assert fake_slack.secret not in done.stdout + done.stderr


def test_webhook_status_logs_configured_without_secret(
    fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    slack.redact_http_logs()

    slack.log_webhook_status(Settings(slack_webhook_url=fake_slack.url))
    slack.post(fake_slack.url, {"text": "hi"}, timeout_s=5)

    assert "Slack webhook: configured" in caplog.text
    assert "/services/…" in caplog.text
    assert "HTTP Request: POST" in caplog.text  # httpx's own line, redacted
    assert fake_slack.secret not in caplog.text


def test_webhook_status_logs_not_set(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    slack.log_webhook_status(Settings())

    assert "Slack webhook: not set" in caplog.text


def _run_script(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/test_slack_webhook.py`` as a user would."""
    script = str(ROOT / "scripts" / "test_slack_webhook.py")
    return subprocess.run(
        [sys.executable, script], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_script_for_the_original_workflow(fake_slack: FakeSlack, tmp_path: Path) -> None:
    # Given only SLACK_WEBHOOK_URL in the environment (run outside the repo: no .env)
    env = {**os.environ, "SLACK_WEBHOOK_URL": fake_slack.url}

    # When the user runs the old script
    done = _run_script(env, tmp_path)

    # Then it posts once and prints the OK line
    assert done.returncode == 0, done.stderr
    assert "OK: Message sent to Slack. Check your channel." in done.stdout
    assert len(fake_slack.requests) == 1


def test_script_refuses_a_webhook_url_that_is_not_a_url(tmp_path: Path) -> None:
    env = {**os.environ, "SLACK_WEBHOOK_URL": "not-a-url"}

    done = _run_script(env, tmp_path)

    assert done.returncode == 1
    assert done.stderr.strip() == (
        "FAILED: invalid value for SLACK_WEBHOOK_URL: an http(s) URL with a host expected. Nothing was sent."
    )
