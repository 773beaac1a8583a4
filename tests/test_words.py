"""Hashed words: columns, TF-IDF rows, the words score and the priority head that adds it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mvr.errors import InferenceFailed
from mvr.inference.linear import LinearHead, save_arrays
from mvr.inference.urgency import PriorityHead
from mvr.inference.words import WordsScore, inverse_document_frequency, tfidf_rows, word_columns

BUCKETS = 64
TEXTS = ["Production is down, production!", "A question about the invoice", "down again"]


def test_word_columns_are_distinct_case_blind_and_skip_one_letter_words() -> None:
    columns = word_columns("Down down DOWN a b x", BUCKETS)
    assert np.array_equal(columns, word_columns("down", BUCKETS))
    assert word_columns("a b c !", BUCKETS).size == 0
    # Any str the API accepts hashes: a lone surrogate (valid JSON) splits words, never raises.
    assert np.array_equal(word_columns("down\ud800up 😀", BUCKETS), word_columns("down up", BUCKETS))


def test_idf_is_smoothed_and_rare_columns_weigh_more() -> None:
    idf = inverse_document_frequency(TEXTS, BUCKETS)
    down, invoice = word_columns("down", BUCKETS)[0], word_columns("invoice", BUCKETS)[0]
    assert idf[down] == pytest.approx(np.log(4 / 3) + 1)  # in 2 of 3 texts
    assert idf[invoice] == pytest.approx(np.log(4 / 2) + 1)
    assert idf.min() >= 1.0 and idf.dtype == np.float32


def test_tfidf_rows_are_unit_length_and_empty_texts_stay_empty() -> None:
    idf = inverse_document_frequency(TEXTS, BUCKETS)
    indptr, indices, data = tfidf_rows([*TEXTS, "?"], idf)
    assert indptr[-1] == len(indices) == len(data) and indptr[-1] == indptr[-2]
    for start, stop in zip(indptr[:-2], indptr[1:-1], strict=True):
        assert np.linalg.norm(data[start:stop]) == pytest.approx(1.0, abs=1e-6)


def test_words_score_is_the_dot_product_with_its_weights(tmp_path: Path) -> None:
    idf = inverse_document_frequency(TEXTS, BUCKETS)
    weights = np.zeros(BUCKETS, np.float32)
    weights[word_columns("down", BUCKETS)] = 2.0
    score = WordsScore(idf, weights, bias=-0.5)
    scores = score.scores(["down", "the invoice", ""])
    assert scores == pytest.approx([1.5, -0.5, -0.5])
    # Saved twice, the same bytes; loaded, the same scores.
    score.save(tmp_path / "a.npz")
    score.save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert WordsScore.load(tmp_path / "a.npz").scores(TEXTS) == pytest.approx(score.scores(TEXTS))


def test_malformed_words_files_raise_inference_failed(tmp_path: Path) -> None:
    with pytest.raises(InferenceFailed, match="cannot load words score"):
        WordsScore.load(tmp_path / "missing.npz")
    ones = np.ones(4, np.float32)
    save_arrays(tmp_path / "short.npz", {"idf": ones, "weights": ones[:3], "bias": ones[:1]})
    with pytest.raises(InferenceFailed, match="inconsistent shapes"):
        WordsScore.load(tmp_path / "short.npz")


def test_priority_head_adds_the_words_score_to_its_high_logit() -> None:
    head = LinearHead(np.zeros((2, 2), np.float32), np.zeros(2, np.float32), ("high", "other"))
    idf = np.ones(BUCKETS, np.float32)
    weights = np.zeros(BUCKETS, np.float32)
    weights[word_columns("outage", BUCKETS)] = 3.0
    features = np.zeros((2, 2), np.float32)
    texts = ["outage", "a question"]
    # Without words both texts are even; with them P(high) = sigmoid(3) for the outage only.
    assert PriorityHead(head).p_high(features, texts) == pytest.approx([0.5, 0.5])
    with_words = PriorityHead(head, WordsScore(idf, weights, bias=0.0)).p_high(features, texts)
    assert with_words == pytest.approx([1 / (1 + np.exp(-3.0)), 0.5], abs=1e-6)
