"""Keyword/regex baseline: category by keywords, urgency by cues and tone words.

It needs no model, so it answers when the models are missing or fail.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from mvr.categories import Category
from mvr.inference.backend import Explained, make_decision
from mvr.inference.cues import cue_score, match_cues
from mvr.ticket import Decision

__all__ = ["BaselineClassifier"]

#: Words of an unhappy writer; each adds a little urgency evidence.
_NEGATIVE_WORDS = re.compile(
    r"\b(angry|furious|frustrat\w*|terrible|awful|horrible|worst|disappointed|unhappy|upset|"
    r"ridiculous|useless|annoy\w*|never again|fed up|sick of|still (not|no)|again)\b",
    re.IGNORECASE,
)
#: Softmax temperature over keyword counts; higher makes probabilities flatter.
_TEMPERATURE = 1.0
#: Weight of one tone word as urgency evidence.
_TONE_WEIGHT = 0.15

MODEL_NAME = "keyword-baseline"
MODEL_VERSION = "1"


class BaselineClassifier:
    """Classify by keyword counts and score urgency by cues; thread-safe."""

    def __init__(self, categories: Sequence[Category]) -> None:
        self._categories = list(categories)
        self._patterns = [c.keyword_pattern() for c in self._categories]

    def decide(self, text: str, *, fallback_reason: str | None = None) -> Decision:
        """Return the baseline decision for ``text``.

        Args:
            text: The ticket text (subject, body and description joined).
            fallback_reason: Why the baseline answers instead of a model, if it does.
        """
        counts = [len(p.findall(text)) for p in self._patterns]
        names = [c.name for c in self._categories]
        cues = match_cues(text)
        tone = len(_NEGATIVE_WORDS.findall(text))
        cues_part = cue_score(cues)
        tone_part = 1.0 - (1.0 - _TONE_WEIGHT) ** tone
        s = 1.0 - (1.0 - cues_part) * (1.0 - tone_part)
        urgency = {
            "cues": [c.name for c in cues],
            "cue_score": round(cues_part, 4),
            "tone_words": tone,
            "tone_score": round(tone_part, 4),
            "formula": "S = 1 - (1 - cue_score) * (1 - tone_score)",
        }
        return make_decision(
            names,
            _softmax(counts),
            s,
            Explained("baseline", MODEL_NAME, MODEL_VERSION, urgency, fallback_reason),
            category_evidence=dict(zip(names, counts, strict=True)),
        )


def _softmax(counts: list[int]) -> list[float]:
    exps = [math.exp(c / _TEMPERATURE) for c in counts]
    total = sum(exps)
    return [e / total for e in exps]


class BaselineBackend:
    """The keyword baseline as a backend, optionally standing in for a failed model."""

    def __init__(self, baseline: BaselineClassifier, fallback_reason: str | None = None) -> None:
        self._baseline = baseline
        self._reason = fallback_reason

    def decide_many(self, texts: Sequence[str]) -> list[Decision]:
        """Return the baseline decision of each text."""
        return [self._baseline.decide(t, fallback_reason=self._reason) for t in texts]

    def close(self) -> None:
        """Nothing to release."""
