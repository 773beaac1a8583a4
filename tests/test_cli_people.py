"""The `mvr` commands for people, run as a user would against a running MVR (real API and worker)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_for_status

MVR = str(Path(sys.executable).with_name("mvr"))


@pytest.fixture
def live_mvr(start_api, start_worker) -> str:
    start_worker()
    return start_api()


def _mvr(mvr_env: dict[str, str], *args: str, url: str, stdin: str | None = None, **env: str):
    full_env = {**os.environ, **mvr_env, "MVR_URL": url, **env}
    return subprocess.run(
        [MVR, *args], env=full_env, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def mvr(mvr_env: dict[str, str], live_mvr: str) -> Callable[..., subprocess.CompletedProcess[str]]:
    return lambda *args, **kw: _mvr(mvr_env, *args, url=live_mvr, **kw)


def test_version() -> None:
    result = subprocess.run([MVR, "--version"], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "mvr, version 0.1.0"


def test_submit_prints_the_id_and_with_wait_the_decision(mvr, live_mvr: str) -> None:
    plain = mvr("submit", "Please send me a copy of last month's invoice.")
    waited = mvr("submit", "--subject", "Site down", "--wait", "Production is down for everyone, urgent!")
    piped = mvr("submit", "-", stdin="I was charged twice for my subscription.\nPlease refund.\n")

    assert plain.returncode == waited.returncode == piped.returncode == 0, waited.stderr
    ticket_id = plain.stdout.strip()
    assert len(ticket_id) == 32
    assert httpx.get(f"{live_mvr}/tickets/{ticket_id}/status").status_code == 200
    waited_id, decision = waited.stdout.strip().splitlines()
    doc = httpx.get(f"{live_mvr}/tickets/{waited_id}/status").json()
    assert doc["status"] == "completed" and doc["subject"] == "Site down"
    assert decision.startswith(f"completed: {doc['category']}, S=")
    assert f"({doc['urgency_label']})" in decision
    body = httpx.get(f"{live_mvr}/tickets/{piped.stdout.strip()}/status").json()["body"]
    assert body == "I was charged twice for my subscription.\nPlease refund.\n"


def test_queue_is_a_table_most_urgent_first(mvr, live_mvr: str) -> None:
    texts = [
        "A question about the colour of the invoice template.",
        "URGENT: production outage, all users locked out, we will sue!",
        "My card was declined when I paid, please help soon.",
    ]
    ids = [mvr("submit", text).stdout.strip() for text in texts]
    docs = [
        wait_for_status(lambda i=i: httpx.get(f"{live_mvr}/tickets/{i}/status").json(), "completed")
        for i in ids
    ]

    result = mvr("queue")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["S", "LABEL", "CATEGORY", "STATUS"]
    listed = [next(i for i in ids if i in line) for line in lines[1:4]]
    by_s = [d["ticket_id"] for d in sorted(docs, key=lambda d: -d["urgency_score"])]
    assert listed == by_s
    assert lines[-1] == "3 of 3 shown"


def test_next_show_resolve_requeue_and_correct(mvr, live_mvr: str) -> None:
    ticket_id = mvr("submit", "--wait", "We received a legal notice about a contract breach.").stdout.split()[
        0
    ]

    taken = mvr("next")
    shown = mvr("show", ticket_id)
    corrected = mvr("correct", ticket_id, "Billing", "--urgency", "0.9")
    requeued = mvr("requeue", ticket_id)
    again = mvr("next", "--json")
    resolved = mvr("resolve", ticket_id)
    refused = mvr("resolve", ticket_id)
    empty = mvr("next")

    assert taken.returncode == 0 and f"ticket   {ticket_id}" in taken.stdout
    assert "status   taken" in taken.stdout and "legal notice" in taken.stdout
    doc = httpx.get(f"{live_mvr}/tickets/{ticket_id}/status").json()
    assert "status   taken" in shown.stdout and f"decision {doc['category']}, S=" in shown.stdout
    assert "correct  Billing, S=0.90 (by a person" in corrected.stdout
    assert "status   completed" in requeued.stdout
    assert '"status": "taken"' in again.stdout
    assert "status   resolved" in resolved.stdout
    assert refused.returncode == 1 and "HTTP 409" in refused.stderr and "resolved" in refused.stderr
    assert empty.returncode == 1 and "No completed ticket is waiting." in empty.stderr
    doc = httpx.get(f"{live_mvr}/tickets/{ticket_id}/status").json()
    assert doc["status"] == "resolved" and doc["correction"]["category"] == "Billing"


def test_commands_send_the_api_key(mvr_env: dict[str, str], start_api) -> None:
    url = start_api(MVR_API_KEY="s3cret")

    without = _mvr(mvr_env, "queue", url=url)
    with_key = _mvr(mvr_env, "queue", url=url, MVR_API_KEY="s3cret")

    assert without.returncode == 1 and "HTTP 401" in without.stderr
    assert with_key.returncode == 0 and with_key.stdout.strip().endswith("0 of 0 shown")


def test_an_unreachable_mvr_is_one_clear_line(mvr_env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    result = _mvr(mvr_env, "show", "abc", url=url)

    assert result.returncode == 1
    assert f"cannot reach MVR at {url}" in result.stderr
    assert "Traceback" not in result.stderr
