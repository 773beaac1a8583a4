"""Urgency cues: phrases that make a ticket urgent whatever its tone."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CUES", "Cue", "cue_score", "match_cues"]


@dataclass(frozen=True)
class Cue:
    """A named pattern and how much evidence of urgency it is (0..1)."""

    name: str
    pattern: re.Pattern[str]
    weight: float


def _cue(name: str, pattern: str, weight: float) -> Cue:
    return Cue(name, re.compile(pattern, re.IGNORECASE), weight)


#: Cues written by us; weights are evidence of urgency in [0, 1].
CUES: tuple[Cue, ...] = (
    _cue(
        "outage",
        r"\b(outage|down for everyone|is down|went down|service (is )?unavailable|"
        r"not (working|loading|responding) (at all|for anyone)|all users)\b",
        0.9,
    ),
    _cue("production", r"\b(production|prod)\b.{0,40}\b(down|broken|fail\w*|stopped|crash\w*)\b", 0.9),
    _cue(
        "data_loss", r"\b(data (loss|lost)|lost (all|our) data|deleted (all|everything)|corrupt\w*)\b", 0.85
    ),
    _cue(
        "security",
        r"\b(breach|hacked|compromised|unauthori[sz]ed (access|charge|login)|"
        r"phishing|leak(ed)?)\b",
        0.85,
    ),
    _cue("locked_out", r"\b(can ?not|can't|cannot|unable to)\s+(log ?in|sign ?in|access)\b|locked out", 0.6),
    _cue("blocking", r"\b(blocking|blocked|stopped working|completely broken|crash(es|ed|ing)?)\b", 0.55),
    _cue(
        "money",
        r"\b(charged twice|double charged|overcharged|unauthori[sz]ed charge|refund (now|immediately))\b",
        0.6,
    ),
    _cue(
        "legal_threat",
        r"\b(lawyer|attorney|lawsuit|sue|legal action|court|cease and desist|"
        r"small claims|regulator)\b",
        0.7,
    ),
    _cue(
        "deadline",
        r"\b(deadline|by (today|tomorrow|tonight|end of day|eod)|within \d+ (hours|days)|"
        r"expires? (today|tomorrow))\b",
        0.5,
    ),
    _cue("asap", r"\b(asap|urgent(ly)?|immediately|right now|emergency|critical)\b", 0.65),
    _cue(
        "escalation",
        r"\b(escalate|unacceptable|last warning|cancel(ling)? (my|our) (account|contract))\b",
        0.5,
    ),
)


def match_cues(text: str) -> list[Cue]:
    """Return the cues found in ``text``, strongest first."""
    found = [cue for cue in CUES if cue.pattern.search(text)]
    return sorted(found, key=lambda cue: cue.weight, reverse=True)


def cue_score(cues: list[Cue]) -> float:
    """Combine cue weights as independent evidence: 1 - Π(1 - w), in [0, 1]."""
    remaining = 1.0
    for cue in cues:
        remaining *= 1.0 - cue.weight
    return 1.0 - remaining
