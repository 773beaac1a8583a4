"""Corrections that teach: recorded through the API, exported, fitted into a head, evaluated."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_for_status
from tests.test_cli_people import MVR

#: Ticket themes and the team this help desk routes them to (not what MVR's defaults say).
THEMES = {
    "Legal": [
        "My parcel {n} has not arrived after {d} days.",
        "The courier lost delivery {n}; where is my package after {d} days?",
    ],
    "Billing": [
        "I cannot log in to account {n} since the password reset {d} days ago.",
        "Login fails with error {n} after I changed my password {d} days ago.",
    ],
    "Technical": [
        "Invoice {n} shows the wrong VAT number, issued {d} days ago.",
        "Please resend invoice {n} from {d} days ago with our company address.",
    ],
}
TICKETS = 50


def _labelled_tickets() -> list[tuple[str, str]]:
    rows = []
    for i in range(TICKETS):
        category = list(THEMES)[i % len(THEMES)]
        template = THEMES[category][(i // len(THEMES)) % 2]
        rows.append((template.format(n=1000 + 37 * i, d=2 + i % 9), category))
    return rows


def _run(mvr_env: dict[str, str], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [MVR, *args], env={**os.environ, **mvr_env, **env}, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.slow
def test_fifty_corrections_fit_a_head_that_gets_them_right_on_re_triage(
    start_api, start_worker, mvr_env: dict[str, str], tmp_path: Path
) -> None:
    # Given 50 tickets triaged by MVR and corrected by people through the API
    start_worker()
    base = start_api()
    labelled = _labelled_tickets()
    ids = [httpx.post(f"{base}/tickets", json={"body": text}).json()["ticket_id"] for text, _ in labelled]
    predicted = []
    for ticket_id, (_, category) in zip(ids, labelled, strict=True):
        doc = wait_for_status(lambda t=ticket_id: httpx.get(f"{base}/tickets/{t}/status").json(), "completed")
        predicted.append(doc["category"])
        corrected = httpx.post(f"{base}/tickets/{ticket_id}/category", json={"category": category})
        assert corrected.status_code == 200 and corrected.json()["correction"]["category"] == category
    wrong_at_triage = sum(p != c for p, (_, c) in zip(predicted, labelled, strict=True))
    assert wrong_at_triage >= TICKETS // 2  # the corrections teach something

    # Then /metrics counts them by (predicted, corrected) pair
    metrics = httpx.get(f"{base}/metrics").text
    pair = (predicted[0], labelled[0][1])
    count = sum(1 for p, (_, c) in zip(predicted, labelled, strict=True) if (p, c) == pair)
    assert f'mvr_corrections_total{{corrected="{pair[1]}",predicted="{pair[0]}"}} {float(count)}' in metrics

    # When they are exported, and a head is fitted from them
    exported = tmp_path / "corrections.csv"
    _run(mvr_env, "export-corrections", str(exported))
    head = tmp_path / "head.npz"
    fitted = _run(mvr_env, "fit", "--from-corrections", "--out", str(head))
    before = json.loads(_run(mvr_env, "eval", "corrections", "--json").stdout)
    after = json.loads(
        _run(mvr_env, "eval", "corrections", "--json", "--backend", "embedding", "--head", str(head)).stdout
    )

    # Then the CSV feeds `mvr fit` as it is, and the new head gets every corrected ticket right
    with exported.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["ticket_id"] for r in rows] == ids
    assert [(r["body"], r["category"]) for r in rows] == labelled
    assert [r["predicted_category"] for r in rows] == predicted
    assert f"Fitted on {TICKETS} rows" in fitted.stdout
    assert before["at_triage"]["corrections"] == TICKETS
    assert before["at_triage"]["agreed"] == TICKETS - wrong_at_triage
    assert after["now"]["rows"] == TICKETS and after["now"]["accuracy"] == 1.0
    text, category = labelled[1]
    decision = _run(mvr_env, "classify", text, MVR_BACKEND="embedding", MVR_CATEGORY_HEAD=str(head))
    assert json.loads(decision.stdout)["category"] == category


def test_fit_from_corrections_without_any_says_so(mvr_env: dict[str, str], tmp_path: Path) -> None:
    result = subprocess.run(
        [MVR, "fit", "--from-corrections", "--out", str(tmp_path / "h.npz")],
        env={**os.environ, **mvr_env},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1
    assert "no corrections are recorded" in result.stderr


def test_fit_needs_a_csv_or_the_corrections(mvr_env: dict[str, str], tmp_path: Path) -> None:
    result = subprocess.run(
        [MVR, "fit", "--out", str(tmp_path / "h.npz")],
        env={**os.environ, **mvr_env},
        capture_output=True,
        text=True,
    )

    assert result.returncode == 2 and "--from-corrections" in result.stderr


def test_eval_corrections_without_any(mvr_env: dict[str, str]) -> None:
    result = _run(mvr_env, "eval", "corrections")

    assert result.stdout.strip() == "No corrections are recorded."
