"""The gunicorn worker serving the API: uvicorn's httptools protocol, hardened against slow clients.

uvicorn bounds the idle time between requests (keep-alive) but not the time a client
takes to send one: a request whose headers or body never finish holds its connection
forever. ``_GuardedProtocol`` gives every request ``MVR_REQUEST_TIMEOUT_S`` from its first
byte (or from the connection's opening) to arrive in full, then answers 408 and closes.
It also refuses request targets over ``MAX_TARGET_BYTES`` (414) and answers the parser's
own 400 in JSON, like every other error of the API.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import msgspec
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn_worker import UvicornWorker

from mvr.config import load_settings

__all__ = ["MAX_TARGET_BYTES", "MvrUvicornWorker"]

#: Longest request target (path and query) accepted, in bytes (nginx allows 8 KiB, Apache 8,190
#: bytes; a little more lets a 10 KB bogus ticket id get its plain 404).
MAX_TARGET_BYTES = 16 * 1024


class _Refused(Exception):
    """Raised in a parser callback to stop parsing a request already answered with an error."""


class _GuardedProtocol(HttpToolsProtocol):
    """HTTP/1.1 with a deadline per request, a bounded URL and JSON protocol errors."""

    #: Seconds a request has to arrive in full (set per worker from the settings).
    request_timeout_s: ClassVar[float] = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:
            self._arm()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_TARGET_BYTES:
            self._refuse(414, "URI too long", f"the request target must be at most {MAX_TARGET_BYTES} bytes")
            raise _Refused  # httptools stops; uvicorn logs "Invalid HTTP request received."

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "Bad request", msg)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout_s, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()
            return
        self._refuse(
            408, "Request timeout", f"the request did not arrive in full within {self.request_timeout_s:g} s"
        )

    def _refuse(self, status: int, error: str, detail: str) -> None:
        """Answer a JSON error and close the connection (the request cannot be read further)."""
        if self.transport.is_closing():
            return
        body = msgspec.json.encode({"error": error, "detail": detail})
        head = [STATUS_LINE.get(status) or f"HTTP/1.1 {status} {error}\r\n".encode()]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        # An app still reading the body then receives http.disconnect; its answer goes nowhere.
        self.transport.close()


class MvrUvicornWorker(UvicornWorker):  # type: ignore[misc]  # uvicorn_worker ships no types
    """uvicorn's gunicorn worker with ``_GuardedProtocol``, ``MVR_REQUEST_TIMEOUT_S`` and
    ``MVR_ACCESS_LOG``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        settings = load_settings()
        protocol = type(
            "GuardedProtocol", (_GuardedProtocol,), {"request_timeout_s": settings.request_timeout_s}
        )
        # PERF: uvicorn's access log is on unless told otherwise; with MVR_ACCESS_LOG off it built
        # and formatted a record per request for /dev/null, about 5% of the API's samples under load.
        self.CONFIG_KWARGS = {
            **UvicornWorker.CONFIG_KWARGS,
            "http": protocol,
            "access_log": settings.access_log,
        }
        super().__init__(*args, **kwargs)
