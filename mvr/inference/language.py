"""Language identification: which tickets go to the multilingual encoder.

py3langid (BSD-3-Clause, its model ships in the wheel) names the language of a
text with a normalised probability. A ticket counts as English unless another
language wins with at least ``min_probability``: short or mixed texts ("VPN",
"Server down!!") get low probabilities from every language and stay on the
English encoder, which reads them as well as any.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mvr.inference.backend import Backend
    from mvr.ticket import Decision

__all__ = ["ENGLISH", "LanguageDetector", "LanguageRouter"]

#: The code of English, the language of the default encoder.
ENGLISH = "en"
#: Least probability of a non-English language for a ticket to count as non-English. 0.5 sent
#: 0.17% of tickets_dev and 0.46% of the external set (English) elsewhere, and kept 0.4% of the
#: non-English tickets_multilingual_dev rows on the English encoder (RESULTS.md "Languages").
DEFAULT_MIN_PROBABILITY = 0.5


class LanguageDetector:
    """Names the language of ticket texts; thread-safe once built."""

    def __init__(self, min_probability: float = DEFAULT_MIN_PROBABILITY) -> None:
        self._identifier = _identifier()
        self._min_probability = min_probability

    def language(self, text: str) -> str:
        """Return the ISO 639-1 code of ``text``'s language, ``en`` when unsure."""
        code, probability = self._identifier.classify(text)
        return str(code) if probability >= self._min_probability else ENGLISH

    def languages(self, texts: Sequence[str]) -> list[str]:
        """Return the language of each text."""
        return [self.language(t) for t in texts]


@cache
def _identifier() -> Any:
    """Load py3langid's model once per process (about 1 s)."""
    from py3langid import langid

    return langid.LanguageIdentifier.from_modelpath(langid.MODEL_DIR / langid.MODEL_FILE, norm_probs=True)


class LanguageRouter:
    """A backend that sends English tickets to one backend and the others to a multilingual one.

    Each decision's explanation gains ``language``: the detected language code.
    """

    def __init__(self, english: Backend, multilingual: Backend, detector: LanguageDetector) -> None:
        self._english = english
        self._multilingual = multilingual
        self._detector = detector

    @property
    def category_method(self) -> str | None:
        """How the English backend picks categories (``prototypes`` or ``linear-head``)."""
        return getattr(self._english, "category_method", None)

    def decide_many(self, texts: Sequence[str]) -> list[Decision]:
        """Return one decision per text, each from the backend of its language, in order."""
        languages = self._detector.languages(texts)
        others = [i for i, code in enumerate(languages) if code != ENGLISH]
        english = [i for i, code in enumerate(languages) if code == ENGLISH]
        decisions: list[Decision | None] = [None] * len(texts)
        for backend, indices in ((self._english, english), (self._multilingual, others)):
            if indices:
                for i, decision in zip(
                    indices, backend.decide_many([texts[i] for i in indices]), strict=True
                ):
                    decisions[i] = replace(
                        decision, explanation={**decision.explanation, "language": languages[i]}
                    )
        return [d for d in decisions if d is not None]

    def close(self) -> None:
        """Stop both backends."""
        for backend in (self._english, self._multilingual):
            backend.close()
