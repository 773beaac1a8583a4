"""A ticket's life after triage: take, resolve, requeue, lease, corrections, filters (real Redis)."""

from __future__ import annotations

import random
import time

import pytest
from falcon import testing

from mvr.config import Settings
from mvr.store import TicketStore, connect
from mvr.web.app import create_app
from tests.conftest import complete_ticket, submit_tickets, wait_for


def _taken(client: testing.TestClient) -> dict:
    result = client.simulate_get("/tickets/next")
    assert result.status_code == 200, result.text
    return result.json


def _ids(page: dict) -> list[str]:
    return [item["ticket_id"] for item in page["items"]]


@pytest.fixture
def one_ready(client: testing.TestClient, settings: Settings) -> str:
    (ticket_id,) = submit_tickets(client, 1)
    complete_ticket(settings, ticket_id, 0.7)
    return ticket_id


def test_next_marks_the_ticket_taken_instead_of_forgetting_it(
    client: testing.TestClient, one_ready: str
) -> None:
    taken = _taken(client)

    doc = client.simulate_get(f"/tickets/{one_ready}/status").json
    assert taken["ticket_id"] == one_ready and taken["status"] == "taken"
    assert doc["status"] == "taken" and doc["taken_at"] == taken["taken_at"]
    assert doc["actions"] == ["resolve", "requeue", "category"]
    assert "lease_expires_at" not in doc  # MVR_TAKE_TIMEOUT_S is off by default
    assert doc["category"] == "Billing" and doc["urgency_score"] == 0.7
    assert _ids(client.simulate_get("/queue").json) == []
    assert _ids(client.simulate_get("/queue", params={"status": "taken"}).json) == [one_ready]


def test_resolve_moves_taken_to_resolved_and_a_second_resolve_is_409(
    client: testing.TestClient, one_ready: str
) -> None:
    _taken(client)

    resolved = client.simulate_post(f"/tickets/{one_ready}/resolve")
    again = client.simulate_post(f"/tickets/{one_ready}/resolve")
    requeue = client.simulate_post(f"/tickets/{one_ready}/requeue")

    assert resolved.status_code == 200
    assert resolved.json["status"] == "resolved" and resolved.json["resolved_at"] >= resolved.json["taken_at"]
    assert resolved.json["actions"] == ["category"]
    for refused in (again, requeue):
        assert refused.status_code == 409
        assert set(refused.json) == {"error", "detail"}
        assert "resolved" in refused.json["detail"]
    assert _ids(client.simulate_get("/queue", params={"status": "resolved"}).json) == [one_ready]
    assert client.simulate_get("/queue", params={"status": "taken"}).json["total"] == 0


@pytest.mark.parametrize("action", ["resolve", "requeue"])
def test_actions_on_a_ticket_that_is_not_taken_are_409_naming_its_status(
    client: testing.TestClient, settings: Settings, action: str
) -> None:
    pending, completed = submit_tickets(client, 2)
    complete_ticket(settings, completed, 0.5)

    for ticket_id, status in ((pending, "pending"), (completed, "completed")):
        result = client.simulate_post(f"/tickets/{ticket_id}/{action}")
        assert result.status_code == 409
        assert result.json["error"] == "Conflict"
        assert f"is {status}" in result.json["detail"]


@pytest.mark.parametrize("action", ["resolve", "requeue", "category"])
def test_actions_on_an_unknown_ticket_are_404(client: testing.TestClient, action: str) -> None:
    result = client.simulate_post(f"/tickets/nope/{action}", json={"category": "Legal"})

    assert result.status_code == 404
    assert set(result.json) == {"error", "detail"}


def test_requeue_puts_the_ticket_back_at_its_place(client: testing.TestClient, settings: Settings) -> None:
    first, second = submit_tickets(client, 2)
    complete_ticket(settings, first, 0.6)
    complete_ticket(settings, second, 0.6)
    taken = _taken(client)

    back = client.simulate_post(f"/tickets/{taken['ticket_id']}/requeue")

    assert taken["ticket_id"] == first
    assert back.status_code == 200
    assert back.json["status"] == "completed" and "taken_at" not in back.json
    assert _ids(client.simulate_get("/queue").json) == [first, second]
    assert _taken(client)["ticket_id"] == first


def test_six_tickets_with_equal_s_come_out_of_next_in_submission_order(
    client: testing.TestClient, settings: Settings
) -> None:
    ids = submit_tickets(client, 6)
    for ticket_id in random.Random(7).sample(ids, len(ids)):  # completed in another order
        complete_ticket(settings, ticket_id, 0.5)
    others = submit_tickets(client, 2)
    complete_ticket(settings, others[0], 0.9)
    complete_ticket(settings, others[1], 0.1)

    listed = _ids(client.simulate_get("/queue").json)
    taken = [_taken(client)["ticket_id"] for _ in range(8)]

    assert listed == [others[0], *ids, others[1]]
    assert taken == listed


def test_a_lost_take_response_loses_nothing_the_lease_returns_the_ticket(
    mvr_env: dict[str, str], settings: Settings, one_ready: str
) -> None:
    client = testing.TestClient(create_app(Settings.from_env({**mvr_env, "MVR_TAKE_TIMEOUT_S": "0.5"})))
    taken = _taken(client)  # the taker's process dies before it sees this answer

    assert taken["lease_expires_at"] > taken["taken_at"]
    assert client.simulate_get(f"/tickets/{one_ready}/status").json["status"] == "taken"
    assert client.simulate_get("/tickets/next").status_code == 404
    back = wait_for(
        lambda: (
            (doc := client.simulate_get(f"/tickets/{one_ready}/status").json)["status"] == "completed" and doc
        ),
        timeout_s=5,
    )
    assert "lease_expires_at" not in back
    assert _ids(client.simulate_get("/queue").json) == [one_ready]
    assert _taken(client)["ticket_id"] == one_ready


def test_resolve_after_the_lease_ran_out_is_409_and_the_ticket_is_back(
    mvr_env: dict[str, str], one_ready: str
) -> None:
    client = testing.TestClient(create_app(Settings.from_env({**mvr_env, "MVR_TAKE_TIMEOUT_S": "0.3"})))
    _taken(client)
    time.sleep(0.4)

    late = client.simulate_post(f"/tickets/{one_ready}/resolve")

    assert late.status_code == 409 and "is completed" in late.json["detail"]
    assert client.simulate_get("/queue").json["items"][0]["ticket_id"] == one_ready


def test_a_lease_that_has_not_run_out_keeps_the_ticket_taken(mvr_env: dict[str, str], one_ready: str) -> None:
    client = testing.TestClient(create_app(Settings.from_env({**mvr_env, "MVR_TAKE_TIMEOUT_S": "60"})))
    _taken(client)

    assert client.simulate_get("/queue").json["total"] == 0
    assert client.simulate_post(f"/tickets/{one_ready}/resolve").json["status"] == "resolved"


def test_a_redelivered_triage_message_never_reprocesses_a_taken_ticket(
    client: testing.TestClient, settings: Settings, one_ready: str
) -> None:
    store = TicketStore(connect(settings), settings)
    _taken(client)

    assert store.claim(one_ready).state == "done"
    assert store.fail(one_ready, "late failure") is False
    assert store.status(one_ready)["status"] == "taken"


def test_queue_filters_by_every_status(client: testing.TestClient, settings: Settings) -> None:
    pending, processing, failed, completed, taken, resolved = submit_tickets(client, 6)
    store = TicketStore(connect(settings), settings)
    store.claim(processing)
    store.fail(failed, "boom")
    complete_ticket(settings, taken, 0.9)
    complete_ticket(settings, resolved, 0.95)
    client.simulate_post(f"/tickets/{_taken(client)['ticket_id']}/resolve")
    _taken(client)
    complete_ticket(settings, completed, 0.5)

    by_status = {
        status: _ids(client.simulate_get("/queue", params={"status": status}).json)
        for status in ("pending", "processing", "failed", "completed", "taken", "resolved")
    }

    assert by_status == {
        "pending": [pending],
        "processing": [processing],
        "failed": [failed],
        "completed": [completed],
        "taken": [taken],
        "resolved": [resolved],
    }
    assert _ids(client.simulate_get("/queue").json) == [completed, processing, pending]


def test_queue_rejects_an_unknown_status(client: testing.TestClient) -> None:
    result = client.simulate_get("/queue", params={"status": "lost"})

    assert result.status_code == 400
    assert "status" in result.json["detail"]


def test_queue_filters_by_category_and_a_correction_moves_the_ticket(
    client: testing.TestClient, settings: Settings
) -> None:
    billing, legal, technical = submit_tickets(client, 3)
    complete_ticket(settings, billing, 0.4, "Billing")
    complete_ticket(settings, legal, 0.3, "Legal")
    complete_ticket(settings, technical, 0.2, "Technical")

    def listed(category: str, **params: str) -> list[str]:
        return _ids(client.simulate_get("/queue", params={"category": category, **params}).json)

    assert (listed("Billing"), listed("Legal")) == ([billing], [legal])
    client.simulate_post(f"/tickets/{billing}/category", json={"category": "Legal"})
    assert (listed("Billing"), listed("Legal")) == ([], [billing, legal])
    assert listed("Legal", status="pending") == []
    client.simulate_get("/tickets/next")  # takes billing (highest S)
    assert (listed("Legal", status="taken"), listed("Legal")) == ([billing], [legal])
    page = client.simulate_get("/queue", params={"category": "Legal"}).json
    assert page["total"] == 1


def test_a_correction_is_shown_next_to_mvrs_decision_and_counted(
    client: testing.TestClient, one_ready: str
) -> None:
    first = client.simulate_post(f"/tickets/{one_ready}/category", json={"category": "Legal"})
    second = client.simulate_post(
        f"/tickets/{one_ready}/category", json={"category": "Technical", "urgency_score": 0.9}
    )

    assert first.status_code == second.status_code == 200
    assert first.json["category"] == "Billing" and first.json["urgency_score"] == 0.7
    assert first.json["correction"]["category"] == "Legal"
    assert first.json["correction"]["urgency_score"] is None
    doc = client.simulate_get(f"/tickets/{one_ready}/status").json
    assert doc["correction"]["category"] == "Technical" and doc["correction"]["urgency_score"] == 0.9
    assert doc["category"] == "Billing"
    item = client.simulate_get("/queue").json["items"][0]
    assert item["correction"] == doc["correction"]
    metrics = client.simulate_get("/metrics").text
    assert 'mvr_corrections_total{corrected="Legal",predicted="Billing"}' in metrics
    assert 'mvr_corrections_total{corrected="Technical",predicted="Billing"}' in metrics


@pytest.mark.parametrize(
    ("body", "status", "fields"),
    [
        ({"category": "Shipping"}, 422, ["category"]),
        ({"category": "Legal", "urgency_score": 1.5}, 422, ["urgency_score"]),
        ({"category": "Legal", "why": "x", "who": "y"}, 422, ["why", "who"]),
        ({}, 422, ["category"]),
        (None, 400, None),
    ],
)
def test_bad_corrections_get_clear_json_errors(
    client: testing.TestClient, one_ready: str, body: dict | None, status: int, fields: list | None
) -> None:
    result = client.simulate_post(
        f"/tickets/{one_ready}/category", json=body, headers={"Content-Type": "application/json"}
    )

    assert result.status_code == status
    assert set(result.json) == {"error", "detail"}
    if fields is not None:
        assert [item["field"] for item in result.json["detail"]] == fields
    else:
        assert result.json["error"] == "Empty body"


def test_a_ticket_without_a_decision_cannot_be_corrected(client: testing.TestClient) -> None:
    (pending,) = submit_tickets(client, 1)

    result = client.simulate_post(f"/tickets/{pending}/category", json={"category": "Legal"})

    assert result.status_code == 409 and "is pending" in result.json["detail"]


def test_head_on_next_never_pops(client: testing.TestClient, settings: Settings, rclient) -> None:
    assert client.simulate_head("/tickets/next").status_code == 404
    (ticket_id,) = submit_tickets(client, 1)
    complete_ticket(settings, ticket_id, 0.5)

    heads = [client.simulate_head("/tickets/next") for _ in range(3)]

    assert [h.status_code for h in heads] == [200, 200, 200]
    assert all(h.content == b"" for h in heads)
    assert rclient.zcard(f"{settings.key_prefix}ready") == 1
    assert _taken(client)["ticket_id"] == ticket_id


@pytest.mark.parametrize("path", ["/queue", "/health", "/ready", "/metrics", "/openapi.json", "/docs"])
def test_head_works_wherever_get_does(client: testing.TestClient, path: str) -> None:
    got, head = client.simulate_get(path), client.simulate_head(path)

    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]


def test_head_on_a_status_is_200_or_404(client: testing.TestClient) -> None:
    (ticket_id,) = submit_tickets(client, 1)

    assert client.simulate_head(f"/tickets/{ticket_id}/status").status_code == 200
    assert client.simulate_head("/tickets/nope/status").status_code == 404


def test_queue_items_always_carry_subject_and_an_excerpt(client: testing.TestClient) -> None:
    long_body = "Our invoices are wrong.\n\n" + "é" * 400
    no_subject = client.simulate_post("/tickets", json={"body": long_body}).json["ticket_id"]
    described = client.simulate_post(
        "/tickets", json={"subject": "Hi", "description": "Only a description"}
    ).json["ticket_id"]

    items = {item["ticket_id"]: item for item in client.simulate_get("/queue").json["items"]}

    assert items[no_subject]["subject"] is None
    assert items[no_subject]["excerpt"].startswith("Our invoices are wrong. éé")
    assert len(items[no_subject]["excerpt"]) == 160 and items[no_subject]["excerpt"].endswith("…")
    assert (items[described]["subject"], items[described]["excerpt"]) == ("Hi", "Only a description")
