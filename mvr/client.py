"""A small HTTP client of MVR's API, for the `mvr submit/queue/next/show` commands."""

from __future__ import annotations

import time
from typing import Any

import httpx

from mvr.errors import ApiError, NothingWaiting
from mvr.ticket import DECIDED, TicketStatus

__all__ = ["MvrClient"]

#: Seconds allowed for each request.
TIMEOUT_S = 10.0
#: Seconds between two status polls of ``wait``.
POLL_S = 0.2
#: Statuses after which a ticket's decision no longer changes by itself.
DECIDED_OR_FAILED = DECIDED | {TicketStatus.FAILED}


class MvrClient:
    """Talk to one MVR API.

    Args:
        url: Base URL, e.g. ``http://127.0.0.1:8000`` (``MVR_URL``).
        api_key: Sent as ``X-API-Key`` when set (``MVR_API_KEY``).
    """

    def __init__(self, url: str, api_key: str | None = None) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self._url = url.rstrip("/")
        self._http = httpx.Client(base_url=self._url, headers=headers, timeout=TIMEOUT_S)

    def submit(self, fields: dict[str, str]) -> str:
        """Submit a ticket; return its id."""
        return str(self._call("POST", "/tickets", json=fields)["ticket_id"])

    def status(self, ticket_id: str) -> dict[str, Any]:
        """Return a ticket's status document."""
        return self._call("GET", f"/tickets/{ticket_id}/status")

    def wait(self, ticket_id: str, timeout_s: float) -> dict[str, Any]:
        """Poll a ticket until it is triaged (or failed); return its status document.

        Raises:
            ApiError: Not triaged within ``timeout_s`` seconds.
        """
        deadline = time.monotonic() + timeout_s
        while (doc := self.status(ticket_id))["status"] not in DECIDED_OR_FAILED:
            if time.monotonic() > deadline:
                raise ApiError(f"ticket {ticket_id} is still {doc['status']} after {timeout_s:g} s")
            time.sleep(POLL_S)
        return doc

    def queue(self, limit: int, status: str | None = None, category: str | None = None) -> dict[str, Any]:
        """Return the first page of /queue (with the optional filters)."""
        params: dict[str, Any] = {"limit": limit}
        params.update({k: v for k, v in (("status", status), ("category", category)) if v})
        return self._call("GET", "/queue", params=params)

    def take_next(self) -> dict[str, Any]:
        """Take the most urgent completed ticket (it becomes ``taken``).

        Raises:
            NothingWaiting: No completed ticket is waiting.
        """
        return self._call("GET", "/tickets/next", not_found=NothingWaiting)

    def act(self, ticket_id: str, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST ``/tickets/{id}/{action}`` (resolve, requeue, category); return the status document."""
        return self._call("POST", f"/tickets/{ticket_id}/{action}", json=body)

    def _call(
        self, method: str, path: str, *, not_found: type[ApiError] = ApiError, **kwargs: Any
    ) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as ex:
            raise ApiError(f"cannot reach MVR at {self._url}: {ex}") from ex
        if response.status_code >= 400:
            error = not_found if response.status_code == 404 else ApiError
            raise error(f"HTTP {response.status_code}: {_detail(response)}")
        result: dict[str, Any] = response.json()
        return result


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        return "; ".join(f"{d.get('field') or 'request'}: {d.get('message')}" for d in detail)
    return str(detail)
