"""Locust load for any MVR: people submitting tickets, polling them, agents taking the next one.

Usage (see README, "Benchmarks"):
    locust -f benchmarks/locustfile.py --host http://127.0.0.1:8000            # web UI on :8089
    locust -f benchmarks/locustfile.py --host http://127.0.0.1:8000 --headless -u 50 -r 10 -t 60s

The mix per user: submit a ticket (weight 4), poll the status of one it submitted
(4), page /queue (1), take /tickets/next (1; a 404 "nothing waiting" is a normal
answer). Ticket texts are generated from templates in ``_common.py`` (billing,
technical, legal and other requests, a quarter with urgency cues).

Options added to Locust's own:
    --mvr-think S   think time: wait uniformly between S/2 and 2*S seconds between tasks
                    (default 1; 0 = no wait, as fast as possible)
    --mvr-rate R    instead, run R tasks per second per user (Locust ``constant_throughput``)
    --tags intake   only submit tickets (what ``bench_intake.py`` runs)

``MVR_API_KEY`` in the environment is sent as ``X-API-Key``.
"""

from __future__ import annotations

import os
import random
import sys
from collections import deque
from pathlib import Path

from locust import constant_throughput, events, tag, task
from locust.contrib.fasthttp import FastHttpUser

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ticket_fields  # noqa: E402

#: Ticket ids a user remembers for status polling.
REMEMBERED = 20


@events.init_command_line_parser.add_listener
def _options(parser) -> None:  # noqa: ANN001 - Locust's argparse wrapper
    parser.add_argument("--mvr-think", type=float, default=1.0, help="think time in seconds (0 = none)")
    parser.add_argument("--mvr-rate", type=float, default=0.0, help="tasks per second per user (0 = off)")


class TicketUser(FastHttpUser):
    """A customer or an agent of a support desk using MVR's API."""

    def on_start(self) -> None:
        self.rng = random.Random()
        self.ticket_ids: deque[str] = deque(maxlen=REMEMBERED)
        api_key = os.environ.get("MVR_API_KEY")
        self.headers = {"X-API-Key": api_key} if api_key else {}
        options = self.environment.parsed_options
        self._rate = getattr(options, "mvr_rate", 0.0) if options else 0.0
        self._think = getattr(options, "mvr_think", 1.0) if options else 1.0
        self._paced = constant_throughput(self._rate) if self._rate > 0 else None

    def wait_time(self) -> float:
        if self._paced is not None:
            return self._paced(self)
        return self.rng.uniform(self._think / 2, self._think * 2) if self._think > 0 else 0.0

    @tag("intake")
    @task(4)
    def submit(self) -> None:
        with self.client.post(
            "/tickets", json=ticket_fields(self.rng), headers=self.headers, catch_response=True
        ) as answer:
            if answer.status_code != 202:
                answer.failure(f"expected 202, got {answer.status_code}")
                return
            self.ticket_ids.append(answer.json()["ticket_id"])

    @task(4)
    def poll_status(self) -> None:
        if not self.ticket_ids:
            return
        ticket_id = self.rng.choice(self.ticket_ids)
        self.client.get(f"/tickets/{ticket_id}/status", headers=self.headers, name="/tickets/[id]/status")

    @task(1)
    def page_queue(self) -> None:
        offset = self.rng.choice((0, 0, 0, 50, 100))
        self.client.get(f"/queue?limit=50&offset={offset}", headers=self.headers, name="/queue?limit=50")

    @task(1)
    def take_next(self) -> None:
        with self.client.get("/tickets/next", headers=self.headers, catch_response=True) as answer:
            if answer.status_code in (200, 404):
                answer.success()
            else:
                answer.failure(f"expected 200 or 404, got {answer.status_code}")
