"""Corrections people recorded, as labelled rows for `mvr fit` and `mvr eval`.

A row has the columns ``mvr fit`` and ``mvr eval tickets`` read (``subject``, ``body``,
``category``: the person's category) plus what MVR had decided. ``body`` joins the
ticket's body and description, so a row's text is exactly what the classifier read.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mvr.ticket import ticket_text

if TYPE_CHECKING:
    from mvr.store import TicketStore

__all__ = ["CSV_COLUMNS", "agreement", "correction_rows", "write_csv"]

#: Columns of ``mvr export-corrections``.
CSV_COLUMNS = (
    "ticket_id",
    "subject",
    "body",
    "category",
    "urgency_score",
    "predicted_category",
    "predicted_urgency",
    "corrected_at",
)


def correction_rows(store: TicketStore) -> list[dict[str, str]]:
    """Return one labelled row per corrected ticket, oldest correction first."""
    return [
        {
            "ticket_id": raw["ticket_id"],
            "subject": raw.get("subject", ""),
            "body": ticket_text("", raw.get("body", ""), raw.get("description", "")),
            "category": raw["corrected_category"],
            "urgency_score": raw.get("corrected_urgency", ""),
            "predicted_category": raw["category"],
            "predicted_urgency": raw["urgency_score"],
            "corrected_at": raw["corrected_at"],
        }
        for raw in store.corrected_tickets()
    ]


def write_csv(rows: Iterable[dict[str, str]], path: Path, columns: Iterable[str] = CSV_COLUMNS) -> int:
    """Write ``rows`` (extra keys ignored) to ``path``; return how many were written."""
    count = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def agreement(rows: list[dict[str, str]]) -> dict[str, Any]:
    """How often MVR's category at triage was the person's.

    Returns:
        ``{corrections, agreed, agreement}`` (``agreement`` None without corrections) and
        ``pairs``: counts by ``"predicted -> corrected"``.
    """
    agreed = sum(r["predicted_category"].lower() == r["category"].lower() for r in rows)
    pairs = Counter(f"{r['predicted_category']} -> {r['category']}" for r in rows)
    return {
        "corrections": len(rows),
        "agreed": agreed,
        "agreement": agreed / len(rows) if rows else None,
        "pairs": dict(pairs.most_common()),
    }
