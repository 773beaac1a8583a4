"""Category scores: zero-shot prototypes from our descriptions, or a fitted linear head.

Each category's name + description and each of its example sentences are
embedded; a ticket's score for a category is its cosine similarity to them
(their normalised mean, or the best single one), turned into probabilities by a
softmax with a temperature. Changing the categories file changes the routing
with no retraining. A head learnt by ``mvr fit`` takes precedence when given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mvr.errors import InferenceFailed
from mvr.inference.linear import LinearHead, softmax
from mvr.inference.taxonomy import Category

__all__ = ["DEFAULT_TEMPERATURE", "CategoryModel", "category_texts"]

#: Softmax temperature over cosine similarities; lower makes probabilities sharper. 0.05 gave the
#: lowest log-loss on tickets_dev among 0.01-0.1.
DEFAULT_TEMPERATURE = 0.05
#: How similarity to a category's texts is pooled: ``mean`` (one prototype) or ``max`` (the closest
#: text). ``max`` measured better on tickets_dev (macro-F1 0.940 vs 0.918, int8 encoder).
DEFAULT_POOLING = "max"


def category_texts(category: Category) -> list[str]:
    """Return the texts that stand for ``category``: its name + description, then its examples."""
    head = f"{category.name}: {category.description}".strip().rstrip(":")
    return [head, *category.examples]


class CategoryModel:
    """Category probabilities for unit-length embeddings; immutable and thread-safe."""

    def __init__(
        self,
        names: Sequence[str],
        anchors: list[np.ndarray],
        *,
        temperature: float = DEFAULT_TEMPERATURE,
        pooling: str = DEFAULT_POOLING,
        head: LinearHead | None = None,
    ) -> None:
        """Build from embedded category texts (``anchors[i]`` is [m_i, d]) or a head.

        Raises:
            InferenceFailed: ``pooling`` is unknown.
        """
        if pooling not in ("mean", "max"):
            raise InferenceFailed(f"unknown prototype pooling {pooling!r} (mean or max)")
        self._head = head
        self._temperature = temperature
        self._pooling = pooling
        self._anchors = [_unit(a) for a in anchors]
        self._prototypes = _unit(np.stack([a.mean(axis=0) for a in self._anchors])) if anchors else None
        self.names = tuple(_head_names(head, names)) if head is not None else tuple(names)

    @classmethod
    def build(
        cls,
        categories: Sequence[Category],
        encode: Callable[[list[str]], np.ndarray],
        *,
        head: LinearHead | None = None,
        temperature: float = DEFAULT_TEMPERATURE,
        pooling: str = DEFAULT_POOLING,
    ) -> CategoryModel:
        """Embed each category's texts with ``encode`` and build the model."""
        anchors = [encode(category_texts(c)) for c in categories] if head is None else []
        return cls([c.name for c in categories], anchors, temperature=temperature, pooling=pooling, head=head)

    @property
    def method(self) -> str:
        """``linear-head`` when a fitted head decides, else ``prototypes``."""
        return "linear-head" if self._head is not None else "prototypes"

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        """Return probabilities [n, k] over ``names`` for embeddings [n, d]; rows sum to 1."""
        return softmax(self.logits(embeddings))

    def logits(self, embeddings: np.ndarray) -> np.ndarray:
        """Return the logits [n, k] whose softmax is ``predict_proba``."""
        if self._head is not None:
            return self._head.logits(embeddings)
        return self.similarities(embeddings) / self._temperature

    def similarities(self, embeddings: np.ndarray) -> np.ndarray:
        """Return cosine similarity [n, k] of each embedding to each category."""
        if self._pooling == "mean":
            return embeddings @ self._prototypes.T  # type: ignore[union-attr]
        return np.stack([(embeddings @ a.T).max(axis=1) for a in self._anchors], axis=1)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def _head_names(head: LinearHead, names: Sequence[str]) -> list[str]:
    """Spell the head's classes as the categories do (labels in CSVs are often lower-case)."""
    by_lower = {n.lower(): n for n in names}
    return [by_lower.get(c.lower(), c) for c in head.classes]
