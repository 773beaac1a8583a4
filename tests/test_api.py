"""HTTP contract: every route, every error code, idempotency (real Redis)."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from falcon import testing

from mvr.config import Settings
from mvr.store import TicketStore, connect
from mvr.web.app import create_app
from mvr.web.schemas import MAX_REQUEST_BYTES
from tests.conftest import complete_ticket, submit_tickets

JSON = {"Content-Type": "application/json"}
#: Expected ``field`` of an error about the request as a whole (reported as null).
WHOLE = "<whole request>"


def _post(client: testing.TestClient, body: bytes, headers: dict[str, str] | None = None) -> testing.Result:
    return client.simulate_post("/tickets", body=body, headers=JSON if headers is None else headers)


def test_post_ticket_returns_202_with_id_status_url_and_location(client: testing.TestClient) -> None:
    result = client.simulate_post(
        "/tickets", json={"subject": "Cannot log in", "body": "Since this morning."}
    )

    assert result.status_code == 202
    assert result.json["status"] == "accepted"
    ticket_id = result.json["ticket_id"]
    assert result.json["status_url"] == f"/tickets/{ticket_id}/status"
    assert result.headers["location"] == result.json["status_url"]


def test_new_ticket_status_is_pending_with_iso_timestamps(client: testing.TestClient) -> None:
    ticket_id = client.simulate_post("/tickets", json={"description": "Refund please"}).json["ticket_id"]

    doc = client.simulate_get(f"/tickets/{ticket_id}/status").json

    assert doc["status"] == "pending"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", doc["created_at"])
    assert doc["updated_at"] == doc["created_at"]
    assert "category" not in doc


@pytest.mark.parametrize(
    ("body", "headers", "status", "field"),
    [
        (b"{not json", JSON, 400, None),
        (b"\xff\xfe", JSON, 400, None),
        (b"", JSON, 400, None),
        (b'{"subject": "a", "priority": "high"}', JSON, 422, "priority"),
        (b'{"subject": "   ", "body": "\\n\\t"}', JSON, 422, WHOLE),
        (b"{}", JSON, 422, WHOLE),
        (b'{"subject": 42}', JSON, 422, "subject"),
        (b'{"body": null}', JSON, 422, WHOLE),
        (b'{"subject": null, "body": null, "description": null}', JSON, 422, WHOLE),
        (b"[1, 2]", JSON, 422, WHOLE),
        (b'"text"', JSON, 422, WHOLE),
        (b'{"subject": "' + b"s" * 501 + b'"}', JSON, 422, "subject"),
        (b'{"body": "' + b"b" * 20_001 + b'"}', JSON, 422, "body"),
        (b'{"description": "' + b"d" * 20_001 + b'"}', JSON, 422, "description"),
        (b'{"body": "' + b"b" * MAX_REQUEST_BYTES + b'"}', JSON, 413, None),
        (b'{"subject": "hi"}', {"Content-Type": "text/plain"}, 415, None),
        (b'{"subject": "hi"}', {}, 415, None),
        (b'{"subject": "hi"}', {"Content-Type": "application/x-www-form-urlencoded"}, 415, None),
    ],
)
def test_bad_input_gets_a_clear_json_error(
    client: testing.TestClient, body: bytes, headers: dict[str, str], status: int, field: str | None
) -> None:
    result = _post(client, body, headers)

    assert result.status_code == status
    assert set(result.json) == {"error", "detail"}
    if field is not None:
        assert [field] == [item["field"] or WHOLE for item in result.json["detail"]]


@pytest.mark.parametrize("body", [b"", b"  \n "])
def test_an_empty_body_says_so(client: testing.TestClient, body: bytes) -> None:
    result = _post(client, body)

    assert result.status_code == 400
    assert result.json == {"error": "Empty body", "detail": "the request body is empty; send a JSON object"}


def test_every_unknown_field_is_listed(client: testing.TestClient) -> None:
    result = _post(client, b'{"subject": "a", "priority": "high", "tags": [], "team": "x"}')

    assert result.status_code == 422
    assert result.json["detail"] == [
        {"field": name, "message": "unknown field"} for name in ("priority", "tags", "team")
    ]


def test_null_text_fields_count_as_absent(client: testing.TestClient) -> None:
    result = client.simulate_post(
        "/tickets", json={"subject": None, "body": "Refund please", "description": None}
    )

    doc = client.simulate_get(result.json["status_url"]).json
    assert result.status_code == 202
    assert doc["body"] == "Refund please" and "subject" not in doc and "description" not in doc


def test_limits_are_inclusive(client: testing.TestClient) -> None:
    result = client.simulate_post("/tickets", json={"subject": "s" * 500, "body": "b" * 20_000})

    assert result.status_code == 202


def test_unknown_ticket_is_404_json(client: testing.TestClient) -> None:
    result = client.simulate_get("/tickets/does-not-exist/status")

    assert result.status_code == 404
    assert result.json["error"] == "Not found"


def test_unknown_route_is_json_404(client: testing.TestClient) -> None:
    result = client.simulate_get("/nope")

    assert result.status_code == 404
    assert set(result.json) == {"error", "detail"}


def test_queue_orders_completed_by_s_then_processing_then_pending_oldest_first(
    client: testing.TestClient, settings: Settings
) -> None:
    ids = submit_tickets(client, 6)
    complete_ticket(settings, ids[0], 0.2)
    complete_ticket(settings, ids[1], 0.9)
    complete_ticket(settings, ids[2], 0.5)
    TicketStore(connect(settings), settings).claim(ids[4])

    page = client.simulate_get("/queue").json

    assert [item["ticket_id"] for item in page["items"]] == [ids[1], ids[2], ids[0], ids[4], ids[3], ids[5]]
    assert [item["status"] for item in page["items"]][3:] == ["processing", "pending", "pending"]
    assert page["items"][0]["urgency_label"] == "high"
    assert (page["total"], page["limit"], page["offset"]) == (6, 20, 0)


def test_queue_pages_with_limit_and_offset(client: testing.TestClient, settings: Settings) -> None:
    ids = submit_tickets(client, 5)
    complete_ticket(settings, ids[0], 0.7)

    first = client.simulate_get("/queue", params={"limit": 2}).json
    second = client.simulate_get("/queue", params={"limit": 2, "offset": 2}).json
    last = client.simulate_get("/queue", params={"limit": 2, "offset": 4}).json
    beyond = client.simulate_get("/queue", params={"offset": 50}).json

    seen = [i["ticket_id"] for page in (first, second, last) for i in page["items"]]
    assert seen == [ids[0], ids[1], ids[2], ids[3], ids[4]]
    assert beyond["items"] == [] and beyond["total"] == 5


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"offset": -1}])
def test_queue_rejects_bad_paging(client: testing.TestClient, params: dict) -> None:
    result = client.simulate_get("/queue", params=params)

    assert result.status_code == 400
    assert set(result.json) == {"error", "detail"}


def test_next_pops_highest_s_then_404_when_empty(client: testing.TestClient, settings: Settings) -> None:
    ids = submit_tickets(client, 3)
    for ticket_id, score in zip(ids, (0.3, 0.95, 0.6), strict=True):
        complete_ticket(settings, ticket_id, score)

    taken = [client.simulate_get("/tickets/next").json["ticket_id"] for _ in range(3)]
    empty = client.simulate_get("/tickets/next")

    assert taken == [ids[1], ids[2], ids[0]]
    assert empty.status_code == 404
    assert client.simulate_get("/queue").json["total"] == 0


def test_concurrent_next_callers_never_get_the_same_ticket(
    client: testing.TestClient, settings: Settings
) -> None:
    ids = submit_tickets(client, 10)
    for n, ticket_id in enumerate(ids):
        complete_ticket(settings, ticket_id, n / 10)
    app = create_app(settings)

    async def take_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mvr") as http:
            return await asyncio.gather(*(http.get("/tickets/next") for _ in range(20)))

    responses = asyncio.run(take_all())

    got = [r.json()["ticket_id"] for r in responses if r.status_code == 200]
    assert sorted(got) == sorted(ids)
    assert sum(r.status_code == 404 for r in responses) == 10


def test_same_idempotency_key_and_body_returns_same_ticket_and_one_message(
    client: testing.TestClient, settings: Settings, rclient
) -> None:
    headers = {**JSON, "Idempotency-Key": "order-17"}
    body = b'{"subject": "Double charge", "body": "Charged twice."}'

    first, second = _post(client, body, headers), _post(client, body, headers)

    assert first.status_code == second.status_code == 202
    assert first.json["ticket_id"] == second.json["ticket_id"]
    assert rclient.llen(f"{settings.broker_namespace}:triage") == 1
    assert client.simulate_get("/queue").json["total"] == 1


def test_same_idempotency_key_with_other_body_is_422(client: testing.TestClient, rclient) -> None:
    headers = {**JSON, "Idempotency-Key": "order-18"}
    _post(client, b'{"subject": "A"}', headers)

    result = _post(client, b'{"subject": "B"}', headers)

    assert result.status_code == 422
    assert result.json["error"] == "Idempotency-Key reused"


def test_idempotency_record_expires_after_24_hours(
    client: testing.TestClient, settings: Settings, rclient
) -> None:
    _post(client, b'{"subject": "A"}', {**JSON, "Idempotency-Key": "k-ttl"})

    (key,) = rclient.keys(f"{settings.key_prefix}idem:*")

    assert 24 * 3600 - 60 < rclient.ttl(key) <= 24 * 3600


def test_health_needs_no_redis_and_ready_and_intake_say_503_without_it(settings: Settings) -> None:
    down = Settings.from_env({"REDIS_URL": "redis://127.0.0.1:1/0"})
    client = testing.TestClient(create_app(down))

    assert client.simulate_get("/health").json == {"status": "ok"}
    for result in (
        client.simulate_get("/ready"),
        client.simulate_post("/tickets", json={"subject": "x"}),
        client.simulate_get("/queue"),
        client.simulate_get("/tickets/next"),
        client.simulate_get(f"/tickets/{'a' * 32}/status"),
    ):
        assert result.status_code == 503
        assert result.headers["retry-after"] == "1"
        assert set(result.json) == {"error", "detail"}


def test_ready_is_200_when_redis_answers(client: testing.TestClient) -> None:
    assert client.simulate_get("/ready").json == {"status": "ready"}


def test_metrics_are_prometheus_text(client: testing.TestClient) -> None:
    client.simulate_post("/tickets", json={"subject": "count me"})

    result = client.simulate_get("/metrics")

    assert result.headers["content-type"].startswith("text/plain")
    assert "mvr_tickets_accepted_total" in result.text
    assert 'mvr_http_requests_total{method="POST",route="/tickets",status="202"}' in result.text


PROTECTED = [
    ("GET", "/queue"),
    ("GET", "/tickets/next"),
    ("GET", "/tickets/x/status"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("POST", "/tickets"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize("key", [None, "wrong"])
def test_api_key_is_required_when_configured(mvr_env: dict, method: str, path: str, key: str | None) -> None:
    client = testing.TestClient(create_app(Settings.from_env({**mvr_env, "MVR_API_KEY": "s3cret"})))
    headers = {**JSON, **({"X-API-Key": key} if key else {})}

    result = client.simulate_request(method, path, headers=headers, body=b'{"subject": "x"}')

    assert result.status_code == 401
    assert set(result.json) == {"error", "detail"}


def test_api_key_opens_routes_and_public_paths_stay_open(mvr_env: dict) -> None:
    client = testing.TestClient(create_app(Settings.from_env({**mvr_env, "MVR_API_KEY": "s3cret"})))

    accepted = client.simulate_post("/tickets", json={"subject": "x"}, headers={"X-API-Key": "s3cret"})

    assert accepted.status_code == 202
    for path in ("/health", "/docs", "/openapi.json", "/ui", "/static/ui/queue.js"):
        assert client.simulate_get(path).status_code == 200
        assert client.simulate_head(path).status_code == 200
    assert client.simulate_get("/").headers["location"] == "/ui"
    assert client.simulate_get("/openapi.json").json["security"] == [{"ApiKey": []}]


def test_openapi_document_lists_every_route(client: testing.TestClient) -> None:
    spec = client.simulate_get("/openapi.json").json

    assert spec["openapi"].startswith("3.1")
    assert set(spec["paths"]) == {
        "/tickets",
        "/tickets/{ticket_id}/status",
        "/tickets/{ticket_id}/resolve",
        "/tickets/{ticket_id}/requeue",
        "/tickets/{ticket_id}/category",
        "/queue",
        "/tickets/next",
        "/health",
        "/ready",
        "/metrics",
    }
    assert spec["components"]["schemas"]["TicketIn"]["additionalProperties"] is False


def test_openapi_lists_the_servers_own_refusals_on_every_operation(client: testing.TestClient) -> None:
    # The server answers 408 (body too slow) and 414 (target too long) before any route runs
    spec = client.simulate_get("/openapi.json").json

    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert {"408", "414"} <= set(operation["responses"]), f"{method.upper()} {path}"
