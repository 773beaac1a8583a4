"""The decision MVR makes about one ticket, shared by every backend."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Decision", "urgency_label"]

#: S below this is ``low``.
LOW_BELOW = 0.4
#: S strictly above this is ``high``.
HIGH_ABOVE = 0.8


def urgency_label(score: float) -> str:
    """Return ``low`` (S < 0.4), ``medium`` (0.4 ≤ S ≤ 0.8) or ``high`` (S > 0.8)."""
    if score < LOW_BELOW:
        return "low"
    return "high" if score > HIGH_ABOVE else "medium"


@dataclass(frozen=True)
class Decision:
    """Category and urgency of one ticket, with the reasons.

    Attributes:
        category: The most probable category name.
        scores: Probability per category; the values sum to 1.
        urgency_score: Urgency S, in [0, 1].
        urgency_label: ``low``, ``medium`` or ``high`` (see ``urgency_label``).
        explanation: ``backend``, ``model``, ``model_version``, ``fallback``,
            ``fallback_reason`` and ``urgency`` (the parts S was made of).
    """

    category: str
    scores: dict[str, float]
    urgency_score: float
    urgency_label: str
    explanation: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Return the decision as plain JSON-ready data."""
        return asdict(self)
