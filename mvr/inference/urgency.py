"""Urgency S: sentiment head on the embedding, an optional priority head, and urgency cues.

S = 1 - (1 - w_s * P(negative)) * (1 - PRIORITY_WEIGHT * P(high)) * (1 - cue_score).
Each part is evidence in [0, 1], combined as independent evidence, so S stays in [0, 1] and a very
negative tone, a ticket that reads like the high-priority ones, or a strong cue alone can make a
ticket urgent. Without a priority head the middle factor is 1 and w_s is ``SENTIMENT_WEIGHT`` (the
seed's formula); with one, tone weighs ``SENTIMENT_WEIGHT_WITH_PRIORITY``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mvr.errors import InferenceFailed
from mvr.inference.cues import cue_score, match_cues
from mvr.inference.linear import LinearHead, softmax
from mvr.inference.words import WordsScore

__all__ = [
    "FORMULA",
    "FORMULA_WITH_PRIORITY",
    "PRIORITY_WEIGHT",
    "SENTIMENT_WEIGHT",
    "SENTIMENT_WEIGHT_WITH_PRIORITY",
    "PriorityHead",
    "SentimentHead",
    "combine_urgency",
    "independent_evidence",
]

#: How much a surely negative tone alone counts as urgency evidence, without a priority head.
SENTIMENT_WEIGHT = 0.6
#: With a priority head: how much a ticket surely like the high-priority ones alone counts, and tone.
#: Chosen on out-of-fold P(high) of the head's ten training projects (mean per-project ROC AUC of S;
#: benchmarks/RESULTS.md "Urgency weights with the ten-project priority head").
PRIORITY_WEIGHT = 1.0
SENTIMENT_WEIGHT_WITH_PRIORITY = 0.2
#: The formula, as shown in every decision's explanation (no priority head).
FORMULA = f"S = 1 - (1 - {SENTIMENT_WEIGHT} * sentiment_negative) * (1 - cue_score)"
#: The formula with a priority head.
FORMULA_WITH_PRIORITY = (
    f"S = 1 - (1 - {SENTIMENT_WEIGHT_WITH_PRIORITY} * sentiment_negative)"
    f" * (1 - {PRIORITY_WEIGHT} * priority_high) * (1 - cue_score)"
)
#: Class name of the negative class in the sentiment head.
NEGATIVE = "negative"
#: Class name of the high-priority class in the priority head.
HIGH = "high"


def combine_urgency(
    p_negative: float, text: str, p_high: float | None = None
) -> tuple[float, dict[str, Any]]:
    """Combine P(negative), P(high) when there is a priority head, and the cues of ``text`` into S.

    Args:
        p_negative: Probability that the text is negative, in [0, 1].
        text: The ticket text, searched for urgency cues.
        p_high: Probability that the ticket is high priority, or None without a priority head.

    Returns:
        S in [0, 1] and the explanation ``{sentiment_negative, cues, cue_score, formula}``, plus
        ``priority_high`` when ``p_high`` is given.
    """
    p = _unit(p_negative)
    cues = match_cues(text)
    cues_part = cue_score(cues)
    explanation: dict[str, Any] = {"sentiment_negative": round(p, 4)}
    if p_high is None:
        s = independent_evidence(p, 0.0, cues_part, SENTIMENT_WEIGHT, 0.0)
    else:
        high = _unit(p_high)
        s = independent_evidence(p, high, cues_part, SENTIMENT_WEIGHT_WITH_PRIORITY, PRIORITY_WEIGHT)
        explanation["priority_high"] = round(high, 4)
    explanation.update(
        cues=[c.name for c in cues],
        cue_score=round(cues_part, 4),
        formula=FORMULA if p_high is None else FORMULA_WITH_PRIORITY,
    )
    return _unit(s), explanation


def independent_evidence(
    p_negative: Any, p_high: Any, cues_part: Any, sentiment_weight: float, priority_weight: float
) -> Any:
    """S from its parts (floats or arrays in [0, 1]): the module docstring's formula with these weights."""
    return 1.0 - (1.0 - sentiment_weight * p_negative) * (1.0 - priority_weight * p_high) * (1.0 - cues_part)


def _unit(value: float) -> float:
    return min(max(float(value), 0.0), 1.0)


class _ClassHead:
    """One column of a ``LinearHead``'s probabilities, named by class.

    It reads the leading columns of an encoder's features it was fitted on: the sentence
    embedding alone, or with the encoder's extra features after it (``TextEncoder.features``).
    """

    role = "linear"
    column_class = ""

    def __init__(self, head: LinearHead) -> None:
        if self.column_class not in head.classes:
            raise InferenceFailed(f"{self.role} head has no {self.column_class!r} class: {head.classes}")
        self._head = head
        self._column = head.classes.index(self.column_class)

    @classmethod
    def load(cls, path: Path) -> Any:
        """Read the head from an ``.npz`` file written by ``LinearHead.save``."""
        return cls(LinearHead.load(path))

    def leading(self, features: np.ndarray) -> np.ndarray:
        """Return the leading columns of ``features`` [n, >= d] that the head reads.

        Raises:
            InferenceFailed: The encoder gives fewer features than the head was fitted on.
        """
        width = self._head.weights.shape[0]
        if features.shape[1] < width:
            raise InferenceFailed(
                f"{self.role} head reads {width} features, the encoder gives {features.shape[1]}"
            )
        return features[:, :width]


class SentimentHead(_ClassHead):
    """P(negative) from sentence embeddings (trained by ``scripts/train_sentiment_head.py``)."""

    role = "sentiment"
    column_class = NEGATIVE

    def p_negative(self, features: np.ndarray) -> np.ndarray:
        """Return P(negative) [n] for encoder features [n, >= d]."""
        return self._head.predict_proba(self.leading(features))[:, self._column]


class PriorityHead(_ClassHead):
    """P(high priority) from sentence embeddings and, optionally, the words of the text.

    Both are trained by ``scripts/train_urgency_head.py``: the words score, when there is one, is
    added to the head's ``high`` logit, so P(high) = softmax(head logits + words score on ``high``).
    """

    role = "priority"
    column_class = HIGH

    def __init__(self, head: LinearHead, words: WordsScore | None = None) -> None:
        super().__init__(head)
        self._words = words

    @classmethod
    def load(cls, path: Path, words_path: Path | None = None) -> PriorityHead:
        """Read the head (and the words score of ``words_path``, if given) written by their ``save``."""
        words = WordsScore.load(words_path) if words_path is not None else None
        return cls(LinearHead.load(path), words)

    def p_high(self, features: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """Return P(high) [n] for encoder features [n, >= d] of ``texts``."""
        logits = self._head.logits(self.leading(features))
        if self._words is not None:
            logits[:, self._column] += self._words.scores(texts)
        return softmax(logits)[:, self._column]
