"""Category scores: zero-shot prototypes from our descriptions, or a fitted linear head.

Each category's name + description and each of its example sentences are
embedded. A ticket's similarity to a category is the mean cosine similarity of
its ``top_k`` closest texts of that category, less the category's *offset*: the
same similarity averaged over the other categories' texts. The offset is what
an off-topic ticket scores, so a category with broad examples does not pull
every ticket in (it is computed from the categories alone: custom categories
need no data and no retraining). Probabilities are a softmax with a
temperature. A head learnt by ``mvr fit`` takes precedence when given.

An encoder may ship a *companion* head fitted on public tickets for some of the
default categories (``category_head.npz``). When given, it re-ranks the
categories it knows by the sum of its and the prototypes' log-probabilities;
whether one of them wins over the other categories stays the prototypes' call (a head that knows
every category, as MiniLM's does, ranks them all).

Tickets read by the multilingual encoder also weigh the categories' keywords (``KeywordPrior``):
English category texts are a weak zero-shot signal for them, and the keywords are written in
their languages too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mvr.categories import Category
from mvr.errors import InferenceFailed
from mvr.inference.linear import LinearHead, softmax

__all__ = [
    "DEFAULT_TEMPERATURE",
    "DEFAULT_TOP_K",
    "KEYWORD_CAP",
    "KEYWORD_WEIGHT",
    "CategoryModel",
    "KeywordPrior",
    "category_texts",
]

#: Softmax temperature over centred cosine similarities; lower makes probabilities sharper.
DEFAULT_TEMPERATURE = 0.05
#: Texts per category whose similarities are averaged. 3 beat 1 (the closest text) and 5 on
#: tickets_dev and the external set (benchmarks/RESULTS.md "Routing quality").
DEFAULT_TOP_K = 3
#: Logit added per keyword found, and the most keywords counted per category. Chosen on
#: tickets_multilingual_dev (benchmarks/RESULTS.md "Keywords as evidence on the multilingual route").
KEYWORD_WEIGHT = 0.5
KEYWORD_CAP = 3


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
        companion: LinearHead | None = None,
    ) -> None:
        """Build from embedded category texts (``anchors[i]`` is [m_i, d]) or a head.

        ``companion`` is combined with the prototypes (ignored when ``head`` decides).

        Raises:
            InferenceFailed: ``top_k`` is below 1, or ``companion`` has a class that is no category.
        """
        if top_k < 1:
            raise InferenceFailed(f"top_k must be at least 1, got {top_k}")
        self._head = head
        self._companion = companion if head is None else None
        self._companion_columns = (
            _columns(self._companion, names) if self._companion is not None else np.zeros(0, dtype=int)
        )
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
        companion: LinearHead | None = None,
        temperature: float = DEFAULT_TEMPERATURE,
        top_k: int = DEFAULT_TOP_K,
    ) -> CategoryModel:
        """Embed each category's texts with ``encode`` and build the model."""
        anchors = [encode(category_texts(c)) for c in categories] if head is None else []
        names = [c.name for c in categories]
        return cls(names, anchors, temperature=temperature, top_k=top_k, head=head, companion=companion)

    @property
    def method(self) -> str:
        """``linear-head`` when a fitted head decides, ``prototypes+head`` with a companion, else
        ``prototypes``."""
        if self._head is not None:
            return "linear-head"
        return "prototypes+head" if self._companion is not None else "prototypes"

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        """Return probabilities [n, k] over ``names`` for embeddings [n, d]; rows sum to 1."""
        return softmax(self.logits(embeddings))

    def logits(self, embeddings: np.ndarray) -> np.ndarray:
        """Return the logits [n, k] whose softmax is ``predict_proba``."""
        if self._head is not None:
            return self._head.logits(embeddings)
        logits = self.similarities(embeddings) / self._temperature
        if self._companion is None:
            return logits
        return _combine(logits, self._companion.logits(embeddings), self._companion_columns)

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


class KeywordPrior:
    """Logits from the categories' keywords found in a text; immutable and thread-safe."""

    def __init__(
        self, categories: Sequence[Category], *, weight: float = KEYWORD_WEIGHT, cap: int = KEYWORD_CAP
    ) -> None:
        self._patterns = [c.keyword_pattern() for c in categories]
        self._weight = weight
        self._cap = cap

    def counts(self, texts: Sequence[str]) -> np.ndarray:
        """Return how often each category's keywords occur in each text, [n, k]."""
        return np.array([[len(p.findall(t)) for p in self._patterns] for t in texts], dtype=np.int64)

    def logits(self, counts: np.ndarray) -> np.ndarray:
        """Return the logits [n, k] to add for keyword ``counts`` [n, k]."""
        bonus: np.ndarray = self._weight * np.minimum(counts, self._cap)
        return bonus


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs: np.ndarray = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return log_probs


def _combine(prototype_logits: np.ndarray, head_logits: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Logits [n, k] where the head re-ranks its classes (``columns``) and nothing else moves.

    Within ``columns`` the order is that of log P_proto + log P_head; the best of them keeps the
    prototypes' best logit there, so whether one of the head's classes wins over another category
    (e.g. Legal, which the head knows nothing of) is decided by the prototypes alone.
    """
    group = _log_softmax(prototype_logits)[:, columns] + _log_softmax(head_logits)
    best = prototype_logits[:, columns].max(axis=1, keepdims=True)
    combined = prototype_logits.copy()
    combined[:, columns] = best + group - group.max(axis=1, keepdims=True)
    return combined


def _columns(head: LinearHead, names: Sequence[str]) -> np.ndarray:
    """The category index of each of the head's classes (matched case-insensitively).

    Raises:
        InferenceFailed: A class of the head is not a category.
    """
    by_lower = {n.lower(): i for i, n in enumerate(names)}
    missing = [c for c in head.classes if c.lower() not in by_lower]
    if missing:
        raise InferenceFailed(f"category head classes {missing} are not categories {list(names)}")
    return np.array([by_lower[c.lower()] for c in head.classes])


def _unit(vectors: np.ndarray) -> np.ndarray:
    unit: np.ndarray = vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
    return unit


def _head_names(head: LinearHead, names: Sequence[str]) -> list[str]:
    """Spell the head's classes as the categories do (labels in CSVs are often lower-case)."""
    by_lower = {n.lower(): n for n in names}
    return [by_lower.get(c.lower(), c) for c in head.classes]
