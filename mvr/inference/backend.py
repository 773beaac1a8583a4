"""What every inference backend is (texts in, decisions out), and the one builder of their decisions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from mvr.ticket import Decision, urgency_label

__all__ = ["Backend", "Explained", "make_decision"]


class Backend(Protocol):
    """Something that turns ticket texts into decisions, and releases what it holds on ``close``."""

    def decide_many(self, texts: Sequence[str]) -> list[Decision]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Explained:
    """What every decision's explanation says: the backend and model that decided, and S's parts."""

    backend: str
    model: str
    model_version: str
    urgency: dict[str, Any]
    fallback_reason: str | None = None


def make_decision(
    names: Sequence[str],
    probabilities: Sequence[float] | np.ndarray,
    urgency_score: float,
    explained: Explained,
    *,
    digits: int | None = 4,
    **details: Any,
) -> Decision:
    """Return the decision: the most probable category (the first of equals), with its scores and S.

    Scores and S are rounded to ``digits`` decimals (None keeps them whole: the NLI backend's
    probabilities then sum to exactly 1). The explanation holds ``backend``, ``model``,
    ``model_version``, ``fallback``, ``fallback_reason``, then the backend's ``details``, then ``urgency``.
    """
    best = max(range(len(names)), key=lambda i: probabilities[i])
    return Decision(
        category=names[best],
        scores={name: _rounded(float(p), digits) for name, p in zip(names, probabilities, strict=True)},
        urgency_score=_rounded(urgency_score, digits),
        urgency_label=urgency_label(urgency_score),
        explanation={
            "backend": explained.backend,
            "model": explained.model,
            "model_version": explained.model_version,
            "fallback": explained.fallback_reason is not None,
            "fallback_reason": explained.fallback_reason,
            **details,
            "urgency": explained.urgency,
        },
    )


def _rounded(value: float, digits: int | None) -> float:
    return value if digits is None else round(value, digits)
