"""Urgency S: sentiment head on the embedding plus urgency cues.

S = 1 - (1 - SENTIMENT_WEIGHT * P(negative)) * (1 - cue_score). Both parts are
evidence in [0, 1], combined as independent evidence, so S stays in [0, 1] and
either a very negative tone or a strong cue alone can make a ticket urgent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mvr.errors import InferenceFailed
from mvr.inference.cues import cue_score, match_cues
from mvr.inference.linear import LinearHead

__all__ = ["FORMULA", "SENTIMENT_WEIGHT", "SentimentHead", "combine_urgency"]

#: How much a surely negative tone alone counts as urgency evidence.
SENTIMENT_WEIGHT = 0.6
#: The formula, as shown in every decision's explanation.
FORMULA = f"S = 1 - (1 - {SENTIMENT_WEIGHT} * sentiment_negative) * (1 - cue_score)"
#: Class name of the negative class in the sentiment head.
NEGATIVE = "negative"


def combine_urgency(p_negative: float, text: str) -> tuple[float, dict[str, Any]]:
    """Combine P(negative) with the cues found in ``text`` into urgency S.

    Args:
        p_negative: Probability that the text is negative, in [0, 1].
        text: The ticket text, searched for urgency cues.

    Returns:
        S in [0, 1] and the explanation ``{sentiment_negative, cues, cue_score, formula}``.
    """
    p = min(max(float(p_negative), 0.0), 1.0)
    cues = match_cues(text)
    cues_part = cue_score(cues)
    s = 1.0 - (1.0 - SENTIMENT_WEIGHT * p) * (1.0 - cues_part)
    explanation = {
        "sentiment_negative": round(p, 4),
        "cues": [c.name for c in cues],
        "cue_score": round(cues_part, 4),
        "formula": FORMULA,
    }
    return min(max(s, 0.0), 1.0), explanation


class SentimentHead:
    """P(negative) from sentence embeddings, by a linear head trained on SST-2."""

    def __init__(self, head: LinearHead) -> None:
        if NEGATIVE not in head.classes:
            raise InferenceFailed(f"sentiment head has no {NEGATIVE!r} class: {head.classes}")
        self._head = head
        self._column = head.classes.index(NEGATIVE)

    @classmethod
    def load(cls, path: Path) -> SentimentHead:
        """Read the head from an ``.npz`` file written by ``LinearHead.save``."""
        return cls(LinearHead.load(path))

    def p_negative(self, embeddings: np.ndarray) -> np.ndarray:
        """Return P(negative) [n] for embeddings [n, d]."""
        return self._head.predict_proba(embeddings)[:, self._column]
