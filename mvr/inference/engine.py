"""Engine: ticket text → Decision, with the baseline as the safety net.

``Engine.from_settings`` picks the backend named by ``MVR_BACKEND``. It never
raises for missing or broken model files: it logs a warning and answers with
the keyword baseline, and every decision says so (``fallback`` and
``fallback_reason``). An error during inference does the same for the texts
it hit. One engine per worker process; ``decide`` is thread-safe and goes
through the shared micro-batcher, so concurrent worker threads batch together.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mvr.categories import Category, load_categories
from mvr.errors import InferenceFailed
from mvr.inference.backend import Backend
from mvr.inference.baseline import BaselineBackend, BaselineClassifier
from mvr.inference.embedding import EmbeddingBackend
from mvr.inference.language import LanguageDetector, LanguageRouter
from mvr.ticket import Decision

if TYPE_CHECKING:
    from mvr.config import Settings

__all__ = ["Engine"]

logger = logging.getLogger(__name__)


class Engine:
    """Decisions from the configured backend, or from the baseline when it cannot answer."""

    def __init__(
        self,
        backend: Backend,
        baseline: BaselineClassifier,
        *,
        backend_name: str,
        fallback_reason: str | None = None,
    ) -> None:
        self.backend = backend
        self.backend_name = backend_name
        #: Why the engine answers with the baseline instead of ``MVR_BACKEND``; None when it does not.
        self.fallback_reason = fallback_reason
        self._baseline = baseline

    @classmethod
    def from_settings(cls, settings: Settings) -> Engine:
        """Build the engine ``settings`` ask for; fall back to the baseline if models fail to load.

        Raises:
            CategoriesFileInvalid: ``MVR_CATEGORIES_FILE`` is unreadable (a configuration error).
        """
        categories = load_categories(settings.categories_file)
        baseline = BaselineClassifier(categories)
        if settings.backend == "baseline":
            return cls(BaselineBackend(baseline), baseline, backend_name="baseline")
        try:
            backend = _load_backend(settings, categories)
        except Exception as ex:  # any load failure means "answer with the baseline", never a crash
            reason = (
                str(ex) if isinstance(ex, InferenceFailed) else f"{settings.backend} backend failed: {ex!r}"
            )
            logger.warning(
                "Model backend %s unavailable, using the keyword baseline: %s.", settings.backend, reason
            )
            return cls(
                BaselineBackend(baseline, reason), baseline, backend_name="baseline", fallback_reason=reason
            )
        return cls(backend, baseline, backend_name=settings.backend)

    def decide(self, text: str) -> Decision:
        """Return the decision for one ticket text; never raises for inference errors."""
        return self.decide_many([text])[0]

    def decide_many(self, texts: Sequence[str]) -> list[Decision]:
        """Return one decision per text; texts the backend fails on get baseline decisions."""
        try:
            return self.backend.decide_many(texts)
        except Exception as ex:  # a model error must not fail triage: answer with the baseline
            reason = f"inference failed: {ex}"
            logger.warning("Backend %s failed, using the keyword baseline: %s.", self.backend_name, ex)
            return [self._baseline.decide(t, fallback_reason=reason) for t in texts]

    def close(self) -> None:
        """Release the backend (stops its micro-batchers)."""
        self.backend.close()


def _load_backend(settings: Settings, categories: Sequence[Category]) -> Backend:
    if settings.backend == "nli":
        from mvr.inference.nli import NliBackend  # only NLI users pay for importing it

        return NliBackend(settings.models_dir, categories, threads=settings.ort_threads)
    # PERF: the multilingual encoder and py3langid's model load before the English encoder, so that
    # py3langid's load buffers are freed before ONNX Runtime takes its memory: the worker's peak
    # RSS fell from 418 to 343 MiB (RESULTS.md "Worker peak RSS: load order").
    multilingual = None
    if settings.multilingual_encoder not in ("off", settings.encoder):
        try:
            multilingual = EmbeddingBackend.load(
                settings, categories, settings.multilingual_encoder, multilingual=True
            )
        except InferenceFailed as ex:  # English tickets must not pay for a missing multilingual model
            logger.warning("Multilingual encoder unavailable, every ticket is read in English: %s.", ex)
    if multilingual is None:
        return EmbeddingBackend.load(settings, categories)
    detector = LanguageDetector()
    return LanguageRouter(EmbeddingBackend.load(settings, categories), multilingual, detector)
