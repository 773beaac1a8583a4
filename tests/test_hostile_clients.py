"""Hostile or sloppy clients against the API as `mvr api` serves it (real gunicorn, raw sockets)."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest
from falcon import testing

from mvr.web.schemas import MAX_BODY_CHARS, MAX_IDEMPOTENCY_KEY_CHARS, MAX_SUBJECT_CHARS
from mvr.web.server import MAX_TARGET_BYTES

#: MVR_REQUEST_TIMEOUT_S for these tests (10 s by default).
REQUEST_TIMEOUT_S = 2.0


@pytest.fixture
def live_api(start_api) -> tuple[str, int]:
    parts = urlsplit(start_api(MVR_REQUEST_TIMEOUT_S=str(REQUEST_TIMEOUT_S)))
    return parts.hostname or "", parts.port or 0


def _exchange(address: tuple[str, int], data: bytes, wait_s: float = 15.0) -> tuple[bytes, float]:
    """Send ``data`` raw, then read until the server closes; return the answer and how long it took."""
    started = time.monotonic()
    with socket.create_connection(address, timeout=wait_s) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer, time.monotonic() - started


def _status_and_json(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize(
    "partial",
    [
        b"POST /tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"body": "hi',
        b"POST /tickets HTTP/1.1\r\nHost: x\r\nContent-Ty",
        b"",
    ],
    ids=["body-never-finishes", "headers-never-finish", "nothing-sent"],
)
def test_a_request_that_never_finishes_gets_408_and_a_closed_connection(
    live_api: tuple[str, int], partial: bytes
) -> None:
    answer, took_s = _exchange(live_api, partial)

    status, body = _status_and_json(answer)
    assert (status, body["error"]) == (408, "Request timeout")
    assert b"connection: close" in answer.lower()
    assert REQUEST_TIMEOUT_S - 0.5 <= took_s < 15  # the deadline applied, and the connection closed


def test_a_bogus_10_kb_ticket_id_is_a_short_404(live_api: tuple[str, int]) -> None:
    bogus = "x" * 10_000
    answer, _ = _exchange(
        live_api, f"GET /tickets/{bogus}/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )

    status, body = _status_and_json(answer)
    assert (status, body) == (404, {"error": "Not found", "detail": "no ticket with that id"})
    assert len(answer) < 500


def test_an_over_long_url_gets_a_json_414(live_api: tuple[str, int]) -> None:
    answer, took_s = _exchange(live_api, b"GET /queue?x=" + b"q" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")

    status, body = _status_and_json(answer)
    assert (status, body["error"]) == (414, "URI too long")
    assert str(MAX_TARGET_BYTES) in body["detail"]
    assert took_s < 15


def test_a_malformed_request_gets_a_json_400(live_api: tuple[str, int]) -> None:
    answer, _ = _exchange(live_api, b"GET /health HTTP/1.1\r\nHost x\r\n\r\n")

    status, body = _status_and_json(answer)
    assert (status, body["error"]) == (400, "Bad request")


def test_an_idempotency_key_over_255_characters_is_422(client: testing.TestClient) -> None:
    longest = client.simulate_post(
        "/tickets", json={"body": "Hello"}, headers={"Idempotency-Key": "k" * MAX_IDEMPOTENCY_KEY_CHARS}
    )
    too_long = client.simulate_post(
        "/tickets", json={"body": "Hello"}, headers={"Idempotency-Key": "k" * 60_000}
    )

    assert longest.status_code == 202
    assert too_long.status_code == 422
    assert too_long.json["detail"] == [
        {"field": "Idempotency-Key", "message": "must be at most 255 characters (got 60000)"}
    ]


@pytest.mark.parametrize("char", ["é", "€", "😀"])
@pytest.mark.parametrize("escaped", [False, True], ids=["utf-8", "json-escaped"])
def test_field_limits_count_characters_however_they_are_encoded(
    client: testing.TestClient, char: str, escaped: bool
) -> None:
    # A ticket at every limit, in a character that takes 2 to 4 bytes (6 to 12 when \u-escaped)
    ticket = {
        "subject": char * MAX_SUBJECT_CHARS,
        "body": char * MAX_BODY_CHARS,
        "description": char * MAX_BODY_CHARS,
    }
    body = json.dumps(ticket, ensure_ascii=escaped).encode()
    assert len(body) > 64 * 1024

    fits = client.simulate_post("/tickets", body=body, headers={"Content-Type": "application/json"})
    ticket["body"] += char
    over = client.simulate_post(
        "/tickets",
        body=json.dumps(ticket, ensure_ascii=escaped).encode(),
        headers={"Content-Type": "application/json"},
    )

    assert fits.status_code == 202, fits.json
    assert over.status_code == 422
    assert over.json["detail"][0]["field"] == "body"
