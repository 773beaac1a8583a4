"""A real local HTTP server standing in for a Slack incoming webhook.

It records every request and answers from a script, then ``200 ok`` once the
script runs out::

    fake_slack.script(Reply(429, "rate_limited", {"Retry-After": "1"}), Reply(500, "oops"))
    settings = Settings(slack_webhook_url=fake_slack.url)
    ...
    assert len(fake_slack.requests) == 3

The ``fake_slack`` fixture (defined as ``fake_slack_fixture``) gives each test a running
server. Make it available with ``from tests.fake_slack import fake_slack_fixture  # noqa: F401``
in a test module or in ``tests/conftest.py``.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = ["FakeSlack", "Received", "Reply", "fake_slack_fixture"]


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    Attributes:
        status: HTTP status code.
        body: Plain-text body, as Slack sends (``ok``, ``invalid_payload``, ...).
        headers: Extra headers, e.g. ``{"Retry-After": "1"}``.
        delay_s: Seconds to wait before answering (to provoke client timeouts).
    """

    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True)
class Received:
    """One request the server got.

    Attributes:
        path: The request path (the webhook's secret part).
        body: The raw request body.
        at: ``time.monotonic()`` when the request arrived.
        status: The status the server answered.
    """

    path: str
    body: bytes
    at: float
    status: int

    def json(self) -> Any:
        """Return the body decoded as JSON."""
        return json.loads(self.body)


class FakeSlack:
    """A scripted Slack webhook on 127.0.0.1 with a random port, served by a thread."""

    def __init__(self) -> None:
        self._replies: deque[Reply] = deque()
        self._requests: list[Received] = []
        self._outage: tuple[float, Reply] = (0.0, Reply())
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-slack", daemon=True
        )
        #: The secret part of ``url``; tests check it never reaches a log.
        self.secret = secrets.token_hex(12)

    @property
    def url(self) -> str:
        """The webhook URL, shaped like Slack's: ``/services/T…/B…/<secret>``."""
        return f"http://127.0.0.1:{self._server.server_port}/services/TFAKE/BFAKE/{self.secret}"

    @property
    def requests(self) -> list[Received]:
        """A copy of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def script(self, *replies: Reply) -> None:
        """Queue answers for the next requests (then ``200 ok``)."""
        with self._lock:
            self._replies.extend(replies)

    def fail_for(self, seconds: float, reply: Reply) -> None:
        """Answer ``reply`` to every request for the next ``seconds`` (an outage), ahead of the script."""
        with self._lock:
            self._outage = (time.monotonic() + seconds, reply)

    def start(self) -> FakeSlack:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, path: str, body: bytes) -> Reply:
        with self._lock:
            until, outage = self._outage
            if time.monotonic() < until:
                reply = outage
            else:
                reply = self._replies.popleft() if self._replies else Reply()
            self._requests.append(Received(path, body, time.monotonic(), reply.status))
        return reply


def _handler_for(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            if len(body) < length:
                # The client died mid-request (e.g. a SIGKILLed worker): like Slack, post nothing.
                self.close_connection = True
                return
            reply = fake._answer(self.path, body)
            time.sleep(reply.delay_s)
            payload = reply.body.encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Stay quiet: the request line holds the webhook secret."""

    return _Handler


@pytest.fixture(name="fake_slack")
def fake_slack_fixture() -> Iterator[FakeSlack]:
    """A running ``FakeSlack``; stopped after the test."""
    server = FakeSlack().start()
    yield server
    server.stop()
