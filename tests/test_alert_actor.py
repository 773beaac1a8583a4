"""The alert actor on a real Redis broker and an in-process Dramatiq worker.

Tickets go through the real store: accept, claim, then ``complete`` with an S above
the threshold, whose Lua script enqueues the ``alert`` message. Slack is
``FakeSlack``, a real HTTP server on 127.0.0.1.

Broker: ``mvr.actors`` binds its actors to a global broker built from the
environment at import. Each test instead gets its own ``RedisBroker`` in the test's
Dramatiq namespace (``settings`` from ``conftest.py``) and re-binds the two alert
actors to it (``Actor.broker``, restored by ``monkeypatch``); the worker's settings
come from a ``Runtime`` installed the same way.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from types import ModuleType
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker
from prometheus_client import REGISTRY

from mvr import slack
from mvr.config import Settings
from mvr.queues import ALERT_QUEUE
from mvr.store import AsyncTicketStore, TicketStore, connect, connect_async
from mvr.ticket import UNKNOWN_DELIVERY, AlertOutcome, Decision
from tests.fake_slack import FakeSlack, Reply, fake_slack_fixture  # noqa: F401 (fixture)

#: Longest wait, in milliseconds, for the alert queue to drain.
JOIN_TIMEOUT_MS = 30_000

StartWorker = Callable[..., dramatiq.Worker]


@pytest.fixture
def actors(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``mvr.actors`` (imported once; its import needs some ``REDIS_URL``)."""
    monkeypatch.setenv("REDIS_URL", settings.redis_url or "")
    return importlib.import_module("mvr.actors")


@pytest.fixture
def alert_module(actors: ModuleType) -> ModuleType:
    """``mvr.actors.alert``."""
    return importlib.import_module("mvr.actors.alert")


@pytest.fixture
def broker(
    alert_module: ModuleType, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RedisBroker]:
    """A broker in this test's namespace, with the alert actors bound to it."""
    from mvr.actors.broker import build_broker

    test_broker = build_broker(settings)
    assert isinstance(test_broker, RedisBroker)
    for actor in (alert_module.alert, alert_module.alert_exhausted):
        monkeypatch.setattr(actor, "broker", test_broker)
        test_broker.declare_actor(actor)
    yield test_broker
    test_broker.close()


@pytest.fixture
def use_webhook(actors: ModuleType, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable:
    """Install the worker runtime with ``SLACK_WEBHOOK_URL`` set to a URL or unset (None)."""
    # Not "from mvr.actors import runtime": the package re-exports the function of that name.
    runtime_module = importlib.import_module("mvr.actors.runtime")

    def use(url: str | None, **changes: Any) -> Settings:
        worker_settings = replace(settings, slack_webhook_url=url, **changes)
        monkeypatch.setattr(runtime_module, "_runtime", runtime_module.Runtime(worker_settings))
        return worker_settings

    return use


@pytest.fixture
def start_worker(broker: RedisBroker) -> Iterator[StartWorker]:
    """Start an in-process worker on the alert queue; stopped after the test."""
    started: list[dramatiq.Worker] = []

    def start(threads: int = 2) -> dramatiq.Worker:
        worker = dramatiq.Worker(broker, queues={ALERT_QUEUE}, worker_threads=threads, worker_timeout=50)
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def store(settings: Settings) -> TicketStore:
    return TicketStore(connect(settings), settings)


def urgent_ticket(
    store: TicketStore, settings: Settings, *, alert: AlertOutcome = AlertOutcome.PENDING, **text: str
) -> str:
    """Accept a ticket and complete it with S=0.93; ``PENDING`` enqueues its alert message."""
    fields = {"subject": "Production is down", "body": "Checkout fails for every customer.", **text}

    async def accept() -> str:
        client = connect_async(settings)
        try:
            ticket_id, _ = await AsyncTicketStore(client, settings).accept(fields)
        finally:
            await client.aclose()
        return ticket_id

    ticket_id = asyncio.run(accept())
    claim = store.claim(ticket_id)
    decision = Decision("outage", {"outage": 1.0}, 0.93, "high", {"backend": "test"})
    assert store.complete(ticket_id, claim.token, decision, alert=alert) == "completed"
    return ticket_id


def alerts_total(outcome: str) -> float:
    """Current value of ``mvr_alerts_total{outcome=...}``."""
    return REGISTRY.get_sample_value("mvr_alerts_total", {"outcome": outcome}) or 0.0


def drain(broker: RedisBroker, worker: dramatiq.Worker) -> None:
    """Wait until every alert message, delayed retries included, was processed."""
    broker.join(ALERT_QUEUE, timeout=JOIN_TIMEOUT_MS)
    worker.join()


def test_rate_limit_then_error_then_ok_sends_exactly_one_message(
    store: TicketStore, settings: Settings, broker: RedisBroker, use_webhook: Callable,
    start_worker: StartWorker, fake_slack: FakeSlack,
) -> None:  # fmt: skip
    # Given Slack answers 429 (Retry-After: 1 s), then 500, then 200 ok
    fake_slack.script(Reply(429, "rate_limited", {"Retry-After": "1"}), Reply(500, "oops"))
    use_webhook(fake_slack.url)
    ticket_id = urgent_ticket(store, settings)
    retried = alerts_total("retried")

    # When the worker processes the alert
    drain(broker, start_worker())

    # Then three attempts reached Slack, the second one after the 1 s wait, and one was accepted
    requests = fake_slack.requests
    assert [r.status for r in requests] == [429, 500, 200]
    assert requests[1].at - requests[0].at >= 1.0
    assert len({r.body for r in requests}) == 1
    assert requests[2].json()["text"].startswith(f"Urgent ticket {ticket_id}")
    doc = store.status(ticket_id)
    assert doc["alert"] == "sent"
    assert "alert_reason" not in doc
    assert alerts_total("retried") - retried == 2


def test_invalid_payload_is_one_attempt_and_alert_failed_with_reason(
    store: TicketStore, settings: Settings, broker: RedisBroker, use_webhook: Callable,
    start_worker: StartWorker, fake_slack: FakeSlack,
) -> None:  # fmt: skip
    # Given Slack refuses the message for good
    fake_slack.script(Reply(400, "invalid_payload"))
    use_webhook(fake_slack.url)
    ticket_id = urgent_ticket(store, settings)

    # When the worker processes the alert
    drain(broker, start_worker())

    # Then Slack saw one attempt and the ticket records the failure and its reason
    assert len(fake_slack.requests) == 1
    doc = store.status(ticket_id)
    assert doc["alert"] == "failed"
    assert doc["alert_reason"] == "HTTP 400: invalid_payload"


def test_ticket_text_reaches_slack_escaped(
    store: TicketStore, settings: Settings, broker: RedisBroker, use_webhook: Callable,
    start_worker: StartWorker, fake_slack: FakeSlack,
) -> None:  # fmt: skip
    # Given a ticket whose text carries a channel mention, markup and an ampersand
    use_webhook(fake_slack.url)
    ticket_id = urgent_ticket(
        store, settings, subject="<!channel> site down & @here", body="<script>alert(1)</script> R&D <@U123>"
    )

    # When its alert is posted
    drain(broker, start_worker())

    # Then Slack received only escaped text
    [request] = fake_slack.requests
    raw = request.body.decode()
    for dangerous in ("<!channel>", "<script>", "<@U123>", "@here", " & "):
        assert dangerous not in _texts(request.json()), dangerous
    for escaped in ("&lt;!channel&gt;", "&lt;script&gt;", "R&amp;D", "&lt;@U123&gt;"):
        assert escaped in raw, escaped
    assert store.status(ticket_id)["alert"] == "sent"


def _texts(payload: dict[str, Any]) -> str:
    parts = [payload["text"]]
    for block in payload["blocks"]:
        parts += [block["text"]["text"]] if "text" in block else [e["text"] for e in block["elements"]]
    # The status link is the one place where Slack's <url|label> syntax is intended.
    return "\n".join(p for p in parts if not p.startswith("<http"))


def test_same_alert_delivered_twice_posts_once(
    store: TicketStore, settings: Settings, broker: RedisBroker, use_webhook: Callable,
    start_worker: StartWorker, fake_slack: FakeSlack, alert_module: ModuleType,
) -> None:  # fmt: skip
    # Given an urgent ticket whose alert message is delivered again (at-least-once delivery)
    use_webhook(fake_slack.url)
    ticket_id = urgent_ticket(store, settings)
    alert_module.alert.send(ticket_id)
    sent, duplicates = alerts_total("sent"), alerts_total("duplicate")

    # When a single-threaded worker processes both deliveries
    drain(broker, start_worker(threads=1))

    # Then one message reached Slack and the second delivery was counted as a duplicate
    assert len(fake_slack.requests) == 1
    assert (alerts_total("sent") - sent, alerts_total("duplicate") - duplicates) == (1, 1)
    assert store.status(ticket_id)["alert"] == "sent"


def test_concurrent_deliveries_post_once(
    store: TicketStore, settings: Settings, broker: RedisBroker, use_webhook: Callable,
    start_worker: StartWorker, fake_slack: FakeSlack, alert_module: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # Given a slow Slack and three deliveries of the same alert processed in parallel
    monkeypatch.setattr(alert_module, "HELD_RETRY_MS", 200)
    fake_slack.script(Reply(delay_s=0.5))
    use_webhook(fake_slack.url)
    ticket_id = urgent_ticket(store, settings)
    alert_module.alert.send(ticket_id)
    alert_module.alert.send(ticket_id)
    duplicates = alerts_total("duplicate")

    # When a worker with several threads processes them
    drain(broker, start_worker(threads=4))

    # Then the deliveries that found the alert in flight waited, and one message reached Slack
    assert len(fake_slack.requests) == 1
    assert alerts_total("duplicate") - duplicates == 2
    assert store.status(ticket_id)["alert"] == "sent"


def test_alert_interrupted_mid_post_is_posted_again_labelled_once(
    store: TicketStore, settings: Settings, broker: RedisBroker, use_webhook: Callable,
    start_worker: StartWorker, fake_slack: FakeSlack, alert_module: ModuleType,
) -> None:  # fmt: skip
    # Given an urgent ticket whose alert a worker reserved and then died while posting
    # (reservations count as interrupted after 3 x 0.01 s + 1 s)
    worker_settings = use_webhook(fake_slack.url, slack_timeout_s=0.01)
    ticket_id = urgent_ticket(store, settings)
    dead = TicketStore(connect(worker_settings), worker_settings)
    assert dead.begin_alert(ticket_id, "message-of-the-dead-worker").verdict == "reserved"
    alert_module.alert.send(ticket_id)  # e.g. also a sweeper's copy

    # When the redelivered alert messages are processed
    started = time.monotonic()
    drain(broker, start_worker(threads=2))

    # Then exactly one of them posted, after the hold, saying it may be a repeat
    [request] = fake_slack.requests
    assert request.at - started >= 0.9
    assert slack.POSSIBLE_REPEAT in request.json()["text"]
    assert slack.POSSIBLE_REPEAT in request.json()["blocks"][0]["elements"][0]["text"]
    assert store.status(ticket_id)["alert"] == "sent"


def test_at_most_once_records_an_interrupted_alert_failed(
    store: TicketStore, settings: Settings, broker: RedisBroker, use_webhook: Callable,
    start_worker: StartWorker, fake_slack: FakeSlack,
) -> None:  # fmt: skip
    # Given MVR_ALERT_DELIVERY=at-most-once and an alert interrupted mid-post
    worker_settings = use_webhook(fake_slack.url, slack_timeout_s=0.01, alert_delivery="at-most-once")
    ticket_id = urgent_ticket(store, settings)
    TicketStore(connect(worker_settings), worker_settings).begin_alert(ticket_id, "dead")

    # When its message is redelivered
    drain(broker, start_worker())

    # Then nothing is posted again and the alert says its delivery is unknown
    assert fake_slack.requests == []
    doc = store.status(ticket_id)
    assert (doc["alert"], doc["alert_reason"]) == ("failed", UNKNOWN_DELIVERY)


def test_unset_webhook_logs_mock_and_records_it(
    store: TicketStore, settings: Settings, broker: RedisBroker, use_webhook: Callable,
    start_worker: StartWorker, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    # Given no SLACK_WEBHOOK_URL
    caplog.set_level(logging.INFO)
    use_webhook(None)
    ticket_id = urgent_ticket(store, settings)
    mocks = alerts_total("mock")

    # When the worker starts and processes the alert
    drain(broker, start_worker())

    # Then the start-up line says so, the alert is only logged and the ticket says mock
    assert "Slack webhook: not set" in caplog.text
    assert f"Mock webhook would fire ticket_id={ticket_id} S=0.93" in caplog.text
    assert store.status(ticket_id)["alert"] == "mock"
    assert alerts_total("mock") - mocks == 1


def test_worker_start_logs_configured_and_never_the_secret(
    store: TicketStore, settings: Settings, broker: RedisBroker, use_webhook: Callable,
    start_worker: StartWorker, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    # Given a webhook whose answers exercise every log line: 429, 500, 400
    caplog.set_level(logging.DEBUG)
    fake_slack.script(
        Reply(429, "rate_limited", {"Retry-After": "0"}), Reply(500, "oops"), Reply(400, "no_text")
    )
    use_webhook(fake_slack.url)
    urgent_ticket(store, settings)

    # When a worker starts and processes the alert
    drain(broker, start_worker())

    # Then the start-up line says "configured" and no log line holds the secret
    assert "Slack webhook: configured url=http://127.0.0.1:" in caplog.text
    assert "HTTP Request: POST" in caplog.text
    assert len(fake_slack.requests) == 3
    assert fake_slack.secret not in caplog.text


def test_retries_exhausted_ends_alert_failed_with_reason(
    store: TicketStore, settings: Settings, broker: RedisBroker, use_webhook: Callable,
    start_worker: StartWorker, fake_slack: FakeSlack, alert_module: ModuleType,
) -> None:  # fmt: skip
    # Given Slack keeps failing and an alert message allowed one retry
    fake_slack.script(Reply(503, "down"), Reply(503, "down"))
    use_webhook(fake_slack.url)
    ticket_id = urgent_ticket(store, settings, alert=AlertOutcome.NONE)
    alert_module.alert.send_with_options(args=(ticket_id,), max_retries=1, min_backoff=100, max_backoff=200)

    # When the worker runs out of retries
    drain(broker, start_worker())

    # Then the alert ends failed with the last error
    assert len(fake_slack.requests) == 2
    doc = store.status(ticket_id)
    assert doc["alert"] == "failed"
    assert doc["alert_reason"] == "Slack unavailable after 2 attempts: HTTP 503: down"


def test_alert_failure_never_touches_triage_result(
    store: TicketStore, settings: Settings, broker: RedisBroker, use_webhook: Callable,
    start_worker: StartWorker, fake_slack: FakeSlack,
) -> None:  # fmt: skip
    # Given Slack rejects the alert
    fake_slack.script(Reply(404, "channel_not_found"))
    use_webhook(fake_slack.url)
    ticket_id = urgent_ticket(store, settings)

    # When the alert fails
    start = time.monotonic()
    drain(broker, start_worker())

    # Then the ticket stays completed with its decision
    doc = store.status(ticket_id)
    assert (doc["status"], doc["category"], doc["urgency_score"]) == ("completed", "outage", 0.93)
    assert doc["alert"] == "failed"
    assert time.monotonic() - start < 10
