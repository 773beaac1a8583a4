"""Category scores: zero-shot prototypes from our descriptions, or a fitted linear head.

Each category's name + description and each of its example sentences are
embedded. A ticket's similarity to a category is the mean cosine similarity of
its ``top_k`` closest texts of that category, less the category's *offset*: the
same similarity averaged over the other categories' texts. The offset is what
an off-topic ticket scores, so a category with broad examples does not pull
every ticket in (it is computed from the categories alone: custom categories
need no data and no retraining). Probabilities are a softmax with a
temperature. A head learnt by ``mvr fit`` takes precedence when given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mvr.categories import Category
from mvr.errors import InferenceFailed
from mvr.inference.linear import LinearHead, softmax

__all__ = ["DEFAULT_TEMPERATURE", "DEFAULT_TOP_K", "CategoryModel", "category_texts"]

#: Softmax temperature over centred cosine similarities; lower makes probabilities sharper.
DEFAULT_TEMPERATURE = 0.05
#: Texts per category whose similarities are averaged. 3 beat 1 (the closest text) and 5 on
#: tickets_dev and the external set (benchmarks/RESULTS.md "Routing quality").
DEFAULT_TOP_K = 3


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
        top_k: int = DEFAULT_TOP_K,
        head: LinearHead | None = None,
    ) -> None:
        """Build from embedded category texts (``anchors[i]`` is [m_i, d]) or a head.

        Raises:
            InferenceFailed: ``top_k`` is below 1.
        """
        if top_k < 1:
            raise InferenceFailed(f"top_k must be at least 1, got {top_k}")
        self._head = head
        self._temperature = temperature
        self._top_k = top_k
        self._anchors = [_unit(a) for a in anchors]
        self._offsets = self._off_topic_similarity() if len(anchors) > 1 else np.zeros(len(anchors))
        self.names = tuple(_head_names(head, names)) if head is not None else tuple(names)

    @classmethod
    def build(
        cls,
        categories: Sequence[Category],
        encode: Callable[[list[str]], np.ndarray],
        *,
        head: LinearHead | None = None,
        temperature: float = DEFAULT_TEMPERATURE,
        top_k: int = DEFAULT_TOP_K,
    ) -> CategoryModel:
        """Embed each category's texts with ``encode`` and build the model."""
        anchors = [encode(category_texts(c)) for c in categories] if head is None else []
        return cls([c.name for c in categories], anchors, temperature=temperature, top_k=top_k, head=head)

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
        """Return the centred similarity [n, k] of each embedding to each category."""
        centred: np.ndarray = self._raw_similarities(embeddings) - self._offsets
        return centred

    def _raw_similarities(self, embeddings: np.ndarray) -> np.ndarray:
        columns = []
        for anchors in self._anchors:
            closest = np.sort(embeddings @ anchors.T, axis=1)[:, -self._top_k :]
            columns.append(closest.mean(axis=1))
        return np.stack(columns, axis=1)

    def _off_topic_similarity(self) -> np.ndarray:
        """Return, per category, its mean raw similarity to the other categories' texts."""
        offsets = []
        for i in range(len(self._anchors)):
            others = np.concatenate([a for j, a in enumerate(self._anchors) if j != i])
            offsets.append(self._raw_similarities(others)[:, i].mean())
        return np.array(offsets, dtype=np.float32)


def _unit(vectors: np.ndarray) -> np.ndarray:
    unit: np.ndarray = vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
    return unit


def _head_names(head: LinearHead, names: Sequence[str]) -> list[str]:
    """Spell the head's classes as the categories do (labels in CSVs are often lower-case)."""
    by_lower = {n.lower(): n for n in names}
    return [by_lower.get(c.lower(), c) for c in head.classes]
