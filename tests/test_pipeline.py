"""End to end: API → Redis → real Dramatiq worker processes → completed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from falcon import testing

from mvr.queues import TRIAGE_ACTOR, TRIAGE_QUEUE, dramatiq_message, redis_queue_keys, triage_args
from mvr.store import TicketStore, connect
from tests.conftest import wait_for, wait_for_status


def _status(client: testing.TestClient, ticket_id: str) -> Callable[[], dict]:
    return lambda: client.simulate_get(f"/tickets/{ticket_id}/status").json


def test_worker_consumes_what_the_api_enqueues_and_completes_the_ticket(
    client: testing.TestClient, start_worker, processes
) -> None:
    start_worker(MVR_LOG_LEVEL="warning")
    ticket_id = client.simulate_post(
        "/tickets", json={"subject": "Invoice wrong", "body": "I was charged twice for my subscription."}
    ).json["ticket_id"]

    doc = wait_for_status(_status(client, ticket_id), "completed")

    assert doc["category"] == "Billing"
    assert 0.0 <= doc["urgency_score"] <= 1.0
    assert doc["urgency_label"] in {"low", "medium", "high"}
    assert abs(sum(doc["scores"].values()) - 1.0) < 1e-3
    assert doc["explanation"]["backend"] == "baseline"
    assert doc["alert"] == "none"
    assert f"ticket_id={ticket_id}" not in processes.log("worker")  # MVR_LOG_LEVEL=warning


def test_at_info_the_worker_logs_each_ticket_with_its_decision(
    client: testing.TestClient, start_worker, processes
) -> None:
    start_worker(MVR_LOG_LEVEL="info")
    ticket_id = client.simulate_post("/tickets", json={"body": "I was charged twice."}).json["ticket_id"]

    doc = wait_for_status(_status(client, ticket_id), "completed")

    line = f"Triage completed ticket_id={ticket_id} category={doc['category']} S={doc['urgency_score']:.4f}."
    wait_for(lambda: line in processes.log("worker"))
    assert "dramatiq.worker.WorkerThread" not in processes.log("worker")  # Dramatiq's own DEBUG stays off


def test_default_worker_uses_the_int8_engine(client: testing.TestClient, start_worker) -> None:
    start_worker(MVR_BACKEND="embedding")
    ticket_id = client.simulate_post("/tickets", json={"body": "The app crashes when I open settings."}).json[
        "ticket_id"
    ]

    doc = wait_for_status(_status(client, ticket_id), "completed", timeout_s=60)

    assert doc["explanation"]["backend"] == "embedding"
    assert doc["explanation"]["fallback"] is False
    assert "int8" in doc["explanation"]["model"]


def test_missing_models_fall_back_to_baseline_and_say_why(
    client: testing.TestClient, start_worker, tmp_path: Path
) -> None:
    start_worker(MVR_BACKEND="embedding", MVR_MODELS_DIR=str(tmp_path / "no-models"))
    ticket_id = client.simulate_post("/tickets", json={"body": "Please refund my last payment."}).json[
        "ticket_id"
    ]

    doc = wait_for_status(_status(client, ticket_id), "completed")

    assert doc["explanation"]["backend"] == "baseline"
    assert doc["explanation"]["fallback"] is True
    assert "no-models" in doc["explanation"]["fallback_reason"]


def test_without_a_webhook_an_urgent_ticket_is_logged_as_a_mock_alert_and_queues_nothing(
    client: testing.TestClient, start_worker, processes, rclient, settings
) -> None:
    # Given a worker with no SLACK_WEBHOOK_URL and a threshold every ticket passes
    start_worker(URGENCY_WEBHOOK_THRESHOLD="0")
    ticket_id = client.simulate_post("/tickets", json={"body": "Production is down for everyone!"}).json[
        "ticket_id"
    ]

    # When it is triaged
    doc = wait_for_status(_status(client, ticket_id), "completed")

    # Then its alert is a mock and the worker log says what would have fired, with no alert job:
    # the alert actor (which reserves every alert it handles) never saw it
    assert doc["alert"] == "mock"
    wait_for(lambda: f"Mock webhook would fire ticket_id={ticket_id}" in processes.log("worker"))
    assert not rclient.exists(f"{settings.key_prefix}alerted:{ticket_id}")
    assert rclient.zcard(f"{settings.key_prefix}alerts:pending") == 0


def test_the_completion_acknowledges_the_message_and_a_redelivery_changes_nothing(
    client: testing.TestClient, start_worker, processes, rclient, settings
) -> None:
    # Given a ticket triaged by a worker from the message the API enqueued (with its text)
    start_worker(MVR_LOG_LEVEL="info")
    fields = {"subject": "Invoice wrong", "body": "I was charged twice."}
    ticket_id = client.simulate_post("/tickets", json=fields).json["ticket_id"]
    first = wait_for_status(_status(client, ticket_id), "completed")
    queue, messages = redis_queue_keys(settings.broker_namespace, TRIAGE_QUEUE)
    unacked = f"{settings.broker_namespace}:__acks__.*.{TRIAGE_QUEUE}"

    def nothing_left() -> bool:
        return rclient.hlen(messages) == 0 and not any(rclient.scard(k) for k in rclient.scan_iter(unacked))

    # Then the completion script acknowledged it: nothing is left for Dramatiq
    wait_for(nothing_left)
    # When the same message is delivered again (as after a worker died before its ack)
    created_ts = float(rclient.hget(f"{settings.key_prefix}ticket:{ticket_id}", "created_ts"))
    message_id, message = dramatiq_message(
        TRIAGE_QUEUE, TRIAGE_ACTOR, *triage_args(ticket_id, fields, created_ts)
    )
    rclient.hset(messages, message_id, message)
    rclient.rpush(queue, message_id)

    # Then it is consumed and acknowledged, and the ticket keeps its one decision
    wait_for(lambda: f"Triage skipped ticket_id={ticket_id} state=done." in processes.log("worker"))
    wait_for(nothing_left)
    assert rclient.hget(f"{settings.key_prefix}ticket:{ticket_id}", "completions") == "1"
    assert client.simulate_get(f"/tickets/{ticket_id}/status").json == first


def _push_id_only_message(rclient, settings, ticket_id: str, **options: object) -> None:
    """Enqueue a triage message with the id only (as the sweeper sends), with extra Dramatiq options."""
    message_id, encoded = dramatiq_message(TRIAGE_QUEUE, TRIAGE_ACTOR, ticket_id)
    message = json.loads(encoded)
    message["options"].update(options)
    queue, messages = redis_queue_keys(settings.broker_namespace, TRIAGE_QUEUE)
    rclient.hset(messages, message_id, json.dumps(message))
    rclient.rpush(queue, message_id)


def test_a_ticket_locked_by_another_worker_is_retried_and_completed_once_the_lock_runs_out(
    client: testing.TestClient, start_worker, rclient, settings
) -> None:
    # Given a ticket claimed by another worker that then died (its lock lasts MVR_LOCK_TTL_MS = 3 s)
    ticket_id = client.simulate_post("/tickets", json={"body": "I was charged twice."}).json["ticket_id"]
    rclient.delete(*redis_queue_keys(settings.broker_namespace, TRIAGE_QUEUE))  # the API's message is gone
    TicketStore(connect(settings), settings).claim(ticket_id)
    # When the batch loop gets a message for it (id only, as the sweeper sends)
    _push_id_only_message(rclient, settings, ticket_id)
    start_worker()

    # Then the message is retried after the lock, through Dramatiq's delay queue, and completes the ticket
    doc = wait_for_status(_status(client, ticket_id), "completed", timeout_s=30)
    assert doc["category"] == "Billing"
    assert rclient.hget(f"{settings.key_prefix}ticket:{ticket_id}", "completions") == "1"


def test_a_message_out_of_retries_marks_its_ticket_failed(
    client: testing.TestClient, start_worker, rclient, settings
) -> None:
    # Given a locked ticket whose message has already used all of its retries
    ticket_id = client.simulate_post("/tickets", json={"body": "I was charged twice."}).json["ticket_id"]
    rclient.delete(*redis_queue_keys(settings.broker_namespace, TRIAGE_QUEUE))
    TicketStore(connect(settings), settings).claim(ticket_id)
    _push_id_only_message(rclient, settings, ticket_id, retries=1_000)  # beyond any actor's max_retries
    start_worker()

    # Then Dramatiq's retry policy gives up and triage_exhausted (on the same queue) fails the ticket
    doc = wait_for_status(_status(client, ticket_id), "failed", timeout_s=30)
    assert doc["failure_reason"] == "triage failed after 1000 attempts"


def test_with_batches_off_dramatiqs_worker_threads_triage_each_message(
    client: testing.TestClient, start_worker, processes
) -> None:
    start_worker(MVR_TRIAGE_BATCH_SIZE="1", MVR_LOG_LEVEL="info")
    ticket_id = client.simulate_post("/tickets", json={"body": "I was charged twice."}).json["ticket_id"]

    wait_for_status(_status(client, ticket_id), "completed")

    wait_for(lambda: f"Triage completed ticket_id={ticket_id}" in processes.log("worker"))
