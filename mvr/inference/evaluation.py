"""Quality harness: ticket routing, sentiment and urgency metrics, and ``mvr fit``.

Pure functions over CSV files and a backend (anything with ``decide_many``);
the CLI prints what they return. Metrics are computed with numpy only.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mvr.errors import InferenceFailed
from mvr.inference.linear import fit_softmax
from mvr.ticket import Decision, ticket_text

__all__ = [
    "classification_report",
    "eval_sentiment",
    "eval_tickets",
    "eval_urgency",
    "fit_head",
    "read_rows",
    "roc_auc",
    "row_half",
]

#: Texts per backend call; progress is reported after each chunk.
CHUNK = 64
#: Priorities counted as urgent in ``eval_urgency``.
URGENT_PRIORITIES = ("critical", "high")

#: Progress callback: ``progress(done_now, total)``, called after each chunk of texts.
Progress = Callable[[int, int], None]


class _Decider(Protocol):
    def decide_many(self, texts: Sequence[str]) -> list[Decision]: ...


def read_rows(csv_path: Path, *, half: str | None = None) -> list[dict[str, str]]:
    """Read a CSV file as dicts; with ``half`` (``a`` or ``b``) keep that half only."""
    with open(csv_path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r for r in rows if half is None or row_half(r) == half]


def row_half(row: dict[str, str]) -> str:
    """Return ``a`` or ``b``: a deterministic 50/50 split by the SHA-256 of the row's text."""
    text = row.get("text") or ticket_text(row.get("subject", ""), row.get("body", ""))
    return "a" if hashlib.sha256(text.encode("utf-8")).digest()[0] % 2 == 0 else "b"


def eval_tickets(
    csv_path: Path, backend: _Decider, *, half: str | None = None, progress: Progress | None = None
) -> dict[str, Any]:
    """Route every ticket (columns subject, body, category) and compare with its label.

    Labels are compared with category names case-insensitively.

    Returns:
        ``{rows, accuracy, macro_f1, per_class, labels, confusion}`` (see ``classification_report``).
    """
    rows = read_rows(csv_path, half=half)
    texts = [ticket_text(r.get("subject", ""), r.get("body", "")) for r in rows]
    predicted = [d.category.lower() for d in _decide(backend, texts, progress)]
    return classification_report([r["category"].strip().lower() for r in rows], predicted)


def eval_sentiment(csv_path: Path, backend: _Decider, *, progress: Progress | None = None) -> dict[str, Any]:
    """ROC AUC of P(negative) for negative vs the rest (columns text, sentiment).

    Raises:
        InferenceFailed: The backend's decisions carry no sentiment (the baseline).
    """
    rows = read_rows(csv_path)
    decisions = _decide(backend, [r["text"] for r in rows], progress)
    try:
        scores = [float(d.explanation["urgency"]["sentiment_negative"]) for d in decisions]
    except KeyError:
        raise InferenceFailed("this backend's decisions have no sentiment_negative") from None
    positives = [r["sentiment"].strip().lower() == "negative" for r in rows]
    return {"rows": len(rows), "negative": sum(positives), "auc": roc_auc(scores, positives)}


def eval_urgency(csv_path: Path, backend: _Decider, *, progress: Progress | None = None) -> dict[str, Any]:
    """ROC AUC of urgency S for critical/high priority vs the rest; rows without priority are skipped."""
    rows = [r for r in read_rows(csv_path) if r.get("priority", "").strip()]
    texts = [ticket_text(r.get("subject", ""), r.get("body", "")) for r in rows]
    scores = [d.urgency_score for d in _decide(backend, texts, progress)]
    positives = [r["priority"].strip().lower() in URGENT_PRIORITIES for r in rows]
    return {"rows": len(rows), "urgent": sum(positives), "auc": roc_auc(scores, positives)}


def fit_head(
    csv_path: Path,
    out_path: Path,
    embed: Callable[[Sequence[str]], np.ndarray],
    *,
    half: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Learn a linear category head from labelled tickets and save it to ``out_path``.

    Args:
        csv_path: CSV with columns subject, body, category.
        out_path: Where to write the ``.npz`` head (``MVR_CATEGORY_HEAD``).
        embed: Texts → unit-length embeddings (the engine's encoder).
        half: Fit on half ``a`` or ``b`` only (see ``row_half``).
        progress: Called with (texts embedded now, total texts) after each chunk.

    Returns:
        ``{rows, classes, train_accuracy, out}``.
    """
    rows = read_rows(csv_path, half=half)
    labels = [r["category"].strip() for r in rows]
    texts = [ticket_text(r.get("subject", ""), r.get("body", "")) for r in rows]
    features = np.concatenate([_embed_chunk(embed, chunk, len(texts), progress) for chunk in _chunks(texts)])
    head = fit_softmax(features, labels, class_weight="balanced")
    head.save(out_path)
    predicted = np.array(head.classes)[head.predict_proba(features).argmax(axis=1)]
    accuracy = float(np.mean(predicted == np.array(labels)))
    return {
        "rows": len(rows),
        "classes": list(head.classes),
        "train_accuracy": accuracy,
        "out": str(out_path),
    }


def classification_report(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 over the true labels, per-class precision/recall/F1 and confusion matrix.

    ``confusion[i][j]`` counts rows of true label ``labels[i]`` predicted as ``labels[j]``.
    """
    labels = sorted(set(truth) | set(predicted))
    index = {label: i for i, label in enumerate(labels)}
    confusion = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(truth, predicted, strict=True):
        confusion[index[t], index[p]] += 1
    per_class = {label: _prf(confusion, index[label]) for label in labels}
    true_labels = sorted(set(truth))
    return {
        "rows": len(truth),
        "accuracy": float(np.trace(confusion) / max(len(truth), 1)),
        "macro_f1": float(np.mean([per_class[label]["f1"] for label in true_labels])) if truth else 0.0,
        "per_class": per_class,
        "labels": labels,
        "confusion": confusion.tolist(),
    }


def roc_auc(scores: Sequence[float], positives: Sequence[bool]) -> float:
    """ROC AUC: the probability a random positive scores above a random negative (ties count half).

    Raises:
        ValueError: There are no positives or no negatives.
    """
    s = np.asarray(scores, dtype=np.float64)
    pos = np.asarray(positives, dtype=bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs both positive and negative rows")
    ranks = _average_ranks(s)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values), dtype=np.float64)
    _, first, counts = np.unique(sorted_values, return_index=True, return_counts=True)
    for start, count in zip(first, counts, strict=True):
        ranks[order[start : start + count]] = start + (count + 1) / 2
    return ranks


def _prf(confusion: np.ndarray, i: int) -> dict[str, float]:
    tp = confusion[i, i]
    predicted, actual = confusion[:, i].sum(), confusion[i, :].sum()
    precision = tp / predicted if predicted else 0.0
    recall = tp / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1), "support": int(actual)}


def _decide(backend: _Decider, texts: list[str], progress: Progress | None) -> list[Decision]:
    decisions: list[Decision] = []
    for chunk in _chunks(texts):
        decisions.extend(backend.decide_many(chunk))
        if progress is not None:
            progress(len(chunk), len(texts))
    return decisions


def _embed_chunk(
    embed: Callable[[Sequence[str]], np.ndarray], chunk: list[str], total: int, progress: Progress | None
) -> np.ndarray:
    vectors = embed(chunk)
    if progress is not None:
        progress(len(chunk), total)
    return vectors


def _chunks(texts: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(texts), CHUNK):
        yield texts[start : start + CHUNK]
