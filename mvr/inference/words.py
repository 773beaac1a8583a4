"""Hashed words: a linear score over the distinct words of a text, with no vocabulary to ship.

A word is a run of two or more word characters of the lower-cased text. Each is hashed (CRC-32)
into one of ``buckets`` columns and counts once per text, weighed by the inverse document frequency
of its column in the training texts; each row is scaled to unit length. This is scikit-learn's
``HashingVectorizer(binary=True, norm=None)`` followed by ``TfidfTransformer()``, with CRC-32 in
place of MurmurHash so that numpy and the standard library are enough at run time.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mvr.errors import InferenceFailed
from mvr.inference.linear import load_arrays, save_arrays

__all__ = ["WordsScore", "inverse_document_frequency", "tfidf_rows", "word_columns"]

_WORD = re.compile(r"\b\w\w+\b")


def word_columns(text: str, buckets: int) -> np.ndarray:
    """Return the sorted distinct columns [m] that the words of ``text`` hash to."""
    hashes = (zlib.crc32(word.encode("utf-8")) % buckets for word in set(_WORD.findall(text.lower())))
    return np.unique(np.fromiter(hashes, dtype=np.int64))


def inverse_document_frequency(texts: Sequence[str], buckets: int) -> np.ndarray:
    """Return the smoothed idf [buckets] of the columns over ``texts``: ln((1 + n) / (1 + df)) + 1."""
    df = np.zeros(buckets, dtype=np.float64)
    for text in texts:
        df[word_columns(text, buckets)] += 1.0
    idf: np.ndarray = np.log((1.0 + len(texts)) / (1.0 + df)) + 1.0
    return idf.astype(np.float32)


def tfidf_rows(texts: Sequence[str], idf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the unit-length TF-IDF rows of ``texts`` as CSR parts ``(indptr, indices, data)``."""
    indptr, indices, data = [0], [], []
    for text in texts:
        columns = word_columns(text, len(idf))
        values = idf[columns]
        norm = float(np.linalg.norm(values))
        indices.append(columns)
        data.append(values / norm if norm > 0 else values)
        indptr.append(indptr[-1] + len(columns))
    return (
        np.array(indptr, dtype=np.int64),
        np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64),
        np.concatenate(data).astype(np.float32) if data else np.zeros(0, dtype=np.float32),
    )


@dataclass(frozen=True)
class WordsScore:
    """A fitted linear score over hashed words: ``tfidf(text) @ weights + bias``.

    Attributes:
        idf: The training texts' idf per column [buckets].
        weights: One weight per column [buckets].
        bias: Added to every score.
    """

    idf: np.ndarray
    weights: np.ndarray
    bias: float

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Return the score [n] of each text."""
        indptr, indices, data = tfidf_rows(texts, self.idf)
        rows = np.repeat(np.arange(len(texts)), np.diff(indptr))
        sums = np.bincount(rows, weights=data * self.weights[indices], minlength=len(texts))
        return (sums + self.bias).astype(np.float32)

    def save(self, path: Path) -> None:
        """Write the score to ``path`` as an ``.npz`` file, byte-identical for identical scores."""
        save_arrays(
            path, {"idf": self.idf, "weights": self.weights, "bias": np.array([self.bias], dtype=np.float32)}
        )

    @classmethod
    def load(cls, path: Path) -> WordsScore:
        """Read a score written by ``save``.

        Raises:
            InferenceFailed: The file is missing or malformed.
        """
        arrays = load_arrays(path, ("idf", "weights", "bias"), "words score")
        score = cls(
            idf=arrays["idf"].astype(np.float32),
            weights=arrays["weights"].astype(np.float32),
            bias=float(arrays["bias"][0]),
        )
        if score.idf.ndim != 1 or score.weights.shape != score.idf.shape:
            raise InferenceFailed(f"words score {path} has inconsistent shapes")
        return score
