"""Evaluation metrics and harness on tiny hand-made inputs with known answers."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from mvr.categories import load_categories
from mvr.errors import InferenceFailed
from mvr.inference.baseline import BaselineClassifier
from mvr.inference.evaluation import (
    classification_report,
    eval_sentiment,
    eval_tickets,
    eval_urgency,
    fit_head,
    roc_auc,
    row_half,
)
from mvr.inference.linear import LinearHead


def test_classification_report_matches_hand_computed_figures() -> None:
    # Given 5 rows: a a a b b, predicted a a b b a
    report = classification_report(list("aaabb"), list("aabba"))
    # Then a: P=2/3 R=2/3, b: P=1/2 R=1/2
    assert report["accuracy"] == pytest.approx(3 / 5)
    assert report["per_class"]["a"]["precision"] == pytest.approx(2 / 3)
    assert report["per_class"]["b"]["recall"] == pytest.approx(1 / 2)
    assert report["macro_f1"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert report["confusion"] == [[2, 1], [1, 1]]


def test_macro_f1_averages_true_labels_only() -> None:
    report = classification_report(["a", "a", "b"], ["a", "c", "b"])
    assert report["labels"] == ["a", "b", "c"]
    assert report["macro_f1"] == pytest.approx((2 / 3 + 1.0) / 2)
    assert report["per_class"]["c"]["precision"] == 0.0


@pytest.mark.parametrize(
    ("scores", "positives", "expected"),
    [
        ([0.1, 0.2, 0.8, 0.9], [False, False, True, True], 1.0),
        ([0.9, 0.8, 0.2, 0.1], [False, False, True, True], 0.0),
        ([0.5, 0.5, 0.5, 0.5], [False, True, False, True], 0.5),
        ([0.1, 0.4, 0.35, 0.8], [False, False, True, True], 0.75),
        ([0.3, 0.3, 0.3, 0.9], [False, True, False, True], 0.75),
    ],
)
def test_roc_auc_known_answers(scores: list[float], positives: list[bool], expected: float) -> None:
    assert roc_auc(scores, positives) == pytest.approx(expected)


def test_roc_auc_agrees_with_pairwise_definition() -> None:
    rng = np.random.default_rng(7)
    scores = rng.integers(0, 5, 60).astype(float)
    positives = rng.random(60) < 0.4
    pos, neg = scores[positives], scores[~positives]
    pairwise = ((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean()
    assert roc_auc(scores, positives) == pytest.approx(pairwise)


def test_roc_auc_needs_both_classes() -> None:
    with pytest.raises(ValueError):
        roc_auc([0.1, 0.2], [True, True])


def test_row_half_is_deterministic_and_splits_both_ways() -> None:
    rows = [{"subject": "", "body": f"ticket number {i}"} for i in range(200)]
    halves = [row_half(r) for r in rows]
    assert halves == [row_half(r) for r in rows]
    assert 60 < halves.count("a") < 140


def _write_csv(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_eval_tickets_with_baseline_compares_labels_case_insensitively(tmp_path: Path) -> None:
    # Given tickets a keyword baseline cannot get wrong, labelled in lower case
    rows = [
        {"subject": "Invoice", "body": "My invoice shows a refund fee twice.", "category": "billing"},
        {"subject": "", "body": "The app crashes with an error after the update.", "category": "technical"},
        {"subject": "", "body": "Our lawyer sends a DMCA copyright takedown.", "category": "legal"},
        {"subject": "", "body": "Refund the payment on my bill.", "category": "technical"},
    ]
    path = _write_csv(tmp_path / "t.csv", rows)
    seen: list[tuple[int, int]] = []
    # When
    report = eval_tickets(path, _BaselineDecider(), progress=lambda done, total: seen.append((done, total)))
    # Then three of four are right and the mislabelled row is counted as an error
    assert report["accuracy"] == pytest.approx(0.75)
    assert report["confusion"][report["labels"].index("technical")][report["labels"].index("billing")] == 1
    assert seen == [(4, 4)]


def test_eval_urgency_skips_rows_without_priority(tmp_path: Path) -> None:
    rows = [
        {"subject": "", "body": "Production is down, urgent!", "category": "technical", "priority": "high"},
        {"subject": "", "body": "A small question about fonts.", "category": "technical", "priority": "low"},
        {"subject": "", "body": "Outage everywhere, asap", "category": "technical", "priority": ""},
    ]
    result = eval_urgency(_write_csv(tmp_path / "u.csv", rows), _BaselineDecider())
    assert result == {"rows": 2, "urgent": 1, "auc": 1.0}


def test_eval_sentiment_needs_a_backend_with_sentiment(tmp_path: Path) -> None:
    rows = [
        {"text": "Awful delay again", "sentiment": "negative"},
        {"text": "Lovely crew", "sentiment": "positive"},
    ]
    with pytest.raises(InferenceFailed, match="sentiment_negative"):
        eval_sentiment(_write_csv(tmp_path / "s.csv", rows), _BaselineDecider())


def test_fit_head_learns_separable_labels_and_saves(tmp_path: Path) -> None:
    # Given labels that a fixed "embedding" separates perfectly
    rows = [{"subject": "", "body": f"{w} {i}", "category": w} for i in range(20) for w in ("x", "y")]
    path = _write_csv(tmp_path / "f.csv", rows)

    def embed(texts: Sequence[str]) -> np.ndarray:
        return np.array([[1.0, 0.0] if t.startswith("x") else [0.0, 1.0] for t in texts], dtype=np.float32)

    # When
    result = fit_head(path, tmp_path / "head.npz", embed)
    # Then
    head = LinearHead.load(tmp_path / "head.npz")
    assert result["train_accuracy"] == 1.0
    assert head.classes == ("x", "y")
    assert head.predict_proba(np.array([[1.0, 0.0]]))[0, 0] > 0.9


class _BaselineDecider:
    def __init__(self) -> None:
        self._baseline = BaselineClassifier(load_categories())

    def decide_many(self, texts: Sequence[str]) -> list:
        return [self._baseline.decide(t) for t in texts]
