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
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from mvr.categories import Category, load_categories
from mvr.errors import InferenceFailed
from mvr.inference.baseline import BaselineClassifier
from mvr.inference.batcher import MicroBatcher, runner_layout
from mvr.inference.category_model import CategoryModel
from mvr.inference.chunking import Chunk, PooledScores, chunk_ticket, chunks_explanation, pool_scores
from mvr.inference.encoder import Manifest
from mvr.inference.encoders import TextEncoder, encoder_dir, load_encoder
from mvr.inference.language import LanguageDetector, LanguageRouter
from mvr.inference.linear import LinearHead, softmax
from mvr.inference.model_files import PRIORITY_HEAD, SENTIMENT_HEAD
from mvr.inference.urgency import PriorityHead, SentimentHead, combine_urgency
from mvr.ticket import Decision, urgency_label

if TYPE_CHECKING:
    from mvr.config import Settings

__all__ = ["Decision", "Engine"]

logger = logging.getLogger(__name__)

#: A decision whose top two category probabilities are closer than this says ``unsure``: on the
#: external set 11% of tickets fell below it, routed right 56% of the time (95% above it).
UNSURE_MARGIN = 0.3


class Backend(Protocol):
    """Something that turns ticket texts into decisions (``close()`` is optional)."""

    def decide_many(self, texts: Sequence[str]) -> list[Decision]: ...


class EmbeddingBackend:
    """One encoder pass (``MVR_ENCODER``) per ticket feeds category prototypes (or a head) and urgency."""

    def __init__(
        self,
        batcher: MicroBatcher,
        categories: CategoryModel,
        sentiment: SentimentHead,
        encoder: TextEncoder,
        priority: PriorityHead | None = None,
    ) -> None:
        self._batcher = batcher
        self._categories = categories
        self._sentiment = sentiment
        #: The encoder that embeds every ticket and its chunks.
        self.encoder = encoder
        self._priority = priority

    @classmethod
    def load(
        cls, settings: Settings, categories: Sequence[Category], encoder_name: str | None = None
    ) -> EmbeddingBackend:
        """Load and check the encoder (default ``MVR_ENCODER``), the heads and the prototypes.

        Raises:
            InferenceFailed: A model file is missing, changed or unreadable.
        """
        name = encoder_name or settings.encoder
        threads, runners = runner_layout(settings.ort_threads)
        encoder = load_encoder(name, Path(settings.models_dir), threads=threads)
        directory = encoder_dir(Path(settings.models_dir), name)
        if not (directory / SENTIMENT_HEAD).is_file():
            raise InferenceFailed(f"model files missing: {directory / SENTIMENT_HEAD}")
        Manifest.load(directory).verify(SENTIMENT_HEAD)
        sentiment = SentimentHead.load(directory / SENTIMENT_HEAD)
        priority = None
        if (directory / PRIORITY_HEAD).is_file():
            Manifest.load(directory).verify(PRIORITY_HEAD)
            priority = PriorityHead.load(directory / PRIORITY_HEAD)
        head = LinearHead.load(settings.category_head) if settings.category_head else None
        model = CategoryModel.build(categories, encoder.encode, head=head)
        batcher = MicroBatcher(
            encoder,
            max_batch=settings.batch_max_size,
            max_tokens=settings.batch_max_tokens,
            max_wait_ms=settings.batch_max_wait_ms,
            runners=runners,
        )
        return cls(batcher, model, sentiment, encoder, priority)

    @property
    def category_method(self) -> str:
        """``prototypes`` or ``linear-head``."""
        return self._categories.method

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return unit-length embeddings [n, d] of ``texts`` through the micro-batcher."""
        return self._batcher.submit_many(texts)

    def p_negative(self, texts: Sequence[str]) -> np.ndarray:
        """Return the sentiment head's P(negative) [n] for ``texts``."""
        return self._sentiment.p_negative(self.embed(texts))

    def decide_many(self, texts: Sequence[str]) -> list[Decision]:
        """Return one decision per text; long texts are also read chunk by chunk.

        Raises:
            InferenceFailed: The encoder failed or timed out.
        """
        if not texts:
            return []
        chunks = [chunk_ticket(t) for t in texts]
        embeddings = self.embed([*texts, *(c.text for cs in chunks for c in cs)])
        logits = self._categories.logits(embeddings)
        p_negative = self._sentiment.p_negative(embeddings)
        p_high = self._priority.p_high(embeddings) if self._priority is not None else None
        decisions, offset = [], len(texts)
        for i, (text, ticket_chunks) in enumerate(zip(texts, chunks, strict=True)):
            rest = slice(offset, offset + len(ticket_chunks))
            pooled = pool_scores(logits[i], logits[rest], float(p_negative[i]), p_negative[rest])
            # Like P(negative), P(high) is the most urgent of the whole text and its chunks.
            high = None if p_high is None else float(p_high[rest].max(initial=p_high[i]))
            decisions.append(self._decision(text, pooled, ticket_chunks, high))
            offset = rest.stop
        return decisions

    def close(self) -> None:
        """Stop the micro-batcher."""
        self._batcher.close()

    def _decision(
        self, text: str, pooled: PooledScores, chunks: Sequence[Chunk], p_high: float | None
    ) -> Decision:
        s, urgency = combine_urgency(pooled.p_negative, text, p_high)
        names = self._categories.names
        probs = softmax(pooled.logits[None, :])[0]
        top, runner_up = np.sort(probs)[::-1][:2]
        return Decision(
            category=names[int(np.argmax(probs))],
            scores={name: round(float(p), 4) for name, p in zip(names, probs, strict=True)},
            urgency_score=round(s, 4),
            urgency_label=urgency_label(s),
            explanation={
                "backend": "embedding",
                "model": self.encoder.model,
                "model_version": self.encoder.model_version,
                "fallback": False,
                "fallback_reason": None,
                "category_method": self._categories.method,
                "category_margin": round(float(top - runner_up), 4),
                "unsure": bool(top - runner_up < UNSURE_MARGIN),
                "chunks": chunks_explanation(chunks, pooled),
                "urgency": urgency,
            },
        )


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
        """Release the backend (stops the micro-batcher); backends without ``close`` hold nothing."""
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()


def _load_backend(settings: Settings, categories: Sequence[Category]) -> Backend:
    if settings.backend == "nli":
        from mvr.inference.nli import NliBackend  # only NLI users pay for importing it

        return NliBackend(settings.models_dir, categories, threads=settings.ort_threads)
    english = EmbeddingBackend.load(settings, categories)
    if settings.multilingual_encoder in ("off", settings.encoder):
        return english
    try:
        multilingual = EmbeddingBackend.load(settings, categories, settings.multilingual_encoder)
    except InferenceFailed as ex:  # English tickets must not pay for a missing multilingual model
        logger.warning("Multilingual encoder unavailable, every ticket is read in English: %s.", ex)
        return english
    return LanguageRouter(english, multilingual, LanguageDetector())
