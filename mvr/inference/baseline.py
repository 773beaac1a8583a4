"""Keyword/regex baseline: category by keywords, urgency by cues and tone words.

It needs no model, so it answers when the models are missing or fail.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from mvr.categories import Category
from mvr.inference.cues import cue_score, match_cues
from mvr.ticket import Decision, urgency_label

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
        self._patterns = [_keyword_pattern(c) for c in self._categories]

    def decide(self, text: str, *, fallback_reason: str | None = None) -> Decision:
        """Return the baseline decision for ``text``.

        Args:
            text: The ticket text (subject, body and description joined).
            fallback_reason: Why the baseline answers instead of a model, if it does.
        """
        counts = [len(p.findall(text)) if p else 0 for p in self._patterns]
        scores = _softmax(counts)
        best = max(range(len(scores)), key=scores.__getitem__)
        cues = match_cues(text)
        tone = len(_NEGATIVE_WORDS.findall(text))
        cues_part = cue_score(cues)
        tone_part = 1.0 - (1.0 - _TONE_WEIGHT) ** tone
        s = 1.0 - (1.0 - cues_part) * (1.0 - tone_part)
        return Decision(
            category=self._categories[best].name,
            scores={c.name: round(p, 4) for c, p in zip(self._categories, scores, strict=True)},
            urgency_score=round(s, 4),
            urgency_label=urgency_label(s),
            explanation={
                "backend": "baseline",
                "model": MODEL_NAME,
                "model_version": MODEL_VERSION,
                "fallback": fallback_reason is not None,
                "fallback_reason": fallback_reason,
                "category_evidence": dict(zip([c.name for c in self._categories], counts, strict=True)),
                "urgency": {
                    "cues": [c.name for c in cues],
                    "cue_score": round(cues_part, 4),
                    "tone_words": tone,
                    "tone_score": round(tone_part, 4),
                    "formula": "S = 1 - (1 - cue_score) * (1 - tone_score)",
                },
            },
        )


def _keyword_pattern(category: Category) -> re.Pattern[str] | None:
    words = sorted(category.keywords or (category.name.lower(),), key=len, reverse=True)
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in words)
    return re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE)


def _softmax(counts: list[int]) -> list[float]:
    exps = [math.exp(c / _TEMPERATURE) for c in counts]
    total = sum(exps)
    return [e / total for e in exps]
