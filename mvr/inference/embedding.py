"""The embedding backend: one encoder pass per ticket (and per chunk) feeds the category model and S."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mvr.categories import Category, load_categories
from mvr.errors import InferenceFailed
from mvr.inference.backend import Explained, make_decision
from mvr.inference.batcher import MicroBatcher, runner_layout
from mvr.inference.category_model import CategoryModel, KeywordPrior
from mvr.inference.chunking import Chunk, PooledScores, chunk_ticket, chunks_explanation, pool_scores
from mvr.inference.encoder import Manifest
from mvr.inference.encoders import TextEncoder, encoder_dir, load_encoder
from mvr.inference.linear import LinearHead, softmax
from mvr.inference.model_files import CATEGORY_HEAD, PRIORITY_HEAD, PRIORITY_WORDS, SENTIMENT_HEAD
from mvr.inference.urgency import PriorityHead, SentimentHead, combine_urgency
from mvr.ticket import Decision

if TYPE_CHECKING:
    from mvr.config import Settings

__all__ = ["UNSURE_MARGIN", "EmbeddingBackend"]

#: A decision whose top two category probabilities are closer than this says ``unsure``: on the
#: external set 11% of tickets fell below it, routed right 56% of the time (95% above it).
UNSURE_MARGIN = 0.3


class EmbeddingBackend:
    """One encoder pass (``MVR_ENCODER``) per ticket feeds category prototypes (or a head) and urgency."""

    def __init__(
        self,
        batcher: MicroBatcher,
        categories: CategoryModel,
        sentiment: SentimentHead,
        encoder: TextEncoder,
        priority: PriorityHead | None = None,
        keywords: KeywordPrior | None = None,
    ) -> None:
        self._batcher = batcher
        self._categories = categories
        self._sentiment = sentiment
        #: The encoder that embeds every ticket and its chunks.
        self.encoder = encoder
        self._priority = priority
        self._keywords = keywords

    @classmethod
    def load(
        cls,
        settings: Settings,
        categories: Sequence[Category],
        encoder_name: str | None = None,
        *,
        multilingual: bool = False,
    ) -> EmbeddingBackend:
        """Load and check the encoder (default ``MVR_ENCODER``), the heads and the prototypes.

        Unless a head fitted by ``mvr fit`` decides, the prototypes are combined with the encoder's
        category head when it was fitted for this route (English, or ``multilingual`` for non-English
        tickets), and the multilingual route also weighs the categories' keywords.

        Raises:
            InferenceFailed: A model file is missing, changed or unreadable.
        """
        name = encoder_name or settings.encoder
        threads, runners = runner_layout(settings.ort_threads)
        encoder = load_encoder(name, Path(settings.models_dir), threads=threads)
        directory = encoder_dir(Path(settings.models_dir), name)
        if not (directory / SENTIMENT_HEAD).is_file():
            raise InferenceFailed(f"model files missing: {directory / SENTIMENT_HEAD}")
        manifest = Manifest.load(directory)
        manifest.verify(SENTIMENT_HEAD)
        sentiment = SentimentHead.load(directory / SENTIMENT_HEAD)
        priority = _priority_head(directory, manifest)
        head = LinearHead.load(settings.category_head) if settings.category_head else None
        route = "multilingual" if multilingual else "english"
        companion = _companion_head(directory, categories, route) if head is None else None
        model = CategoryModel.build(categories, encoder.encode, head=head, companion=companion)
        keywords = KeywordPrior(categories) if multilingual and head is None else None
        batcher = MicroBatcher(
            encoder,
            max_batch=settings.batch_max_size,
            max_tokens=settings.batch_max_tokens,
            max_wait_ms=settings.batch_max_wait_ms,
            runners=runners,
        )
        return cls(batcher, model, sentiment, encoder, priority, keywords)

    @property
    def category_method(self) -> str:
        """``prototypes``, ``prototypes+head`` or ``linear-head`` (CategoryModel.method)."""
        return self._categories.method

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return unit-length sentence embeddings [n, d] of ``texts`` through the micro-batcher."""
        return self._batcher.submit_many(texts)[:, : self.encoder.dimension]

    def p_negative(self, texts: Sequence[str]) -> np.ndarray:
        """Return the sentiment head's P(negative) [n] for ``texts``."""
        return self._sentiment.p_negative(self._batcher.submit_many(texts))

    def decide_many(self, texts: Sequence[str]) -> list[Decision]:
        """Return one decision per text; long texts are also read chunk by chunk.

        Raises:
            InferenceFailed: The encoder failed or timed out.
        """
        if not texts:
            return []
        chunks = [chunk_ticket(t) for t in texts]
        every_text = [*texts, *(c.text for cs in chunks for c in cs)]
        features = self._batcher.submit_many(every_text)
        logits = self._categories.logits(features[:, : self.encoder.dimension])
        keyword_counts = None
        if self._keywords is not None:
            keyword_counts = self._keywords.counts(every_text)
            logits = logits + self._keywords.logits(keyword_counts)
        p_negative = self._sentiment.p_negative(features)
        pooled, deciding, offset = [], [], len(texts)
        for i, ticket_chunks in enumerate(chunks):
            rest = slice(offset, offset + len(ticket_chunks))
            scores = pool_scores(logits[i], logits[rest], float(p_negative[i]), p_negative[rest])
            pooled.append(scores)
            deciding.append(i if scores.category_chunk is None else rest.start + scores.category_chunk)
            offset = rest.stop
        # P(high) is the deciding piece's (the category's best chunk): the highest of many pieces'
        # would rise with their number, small talk included.
        p_high = None
        if self._priority is not None:
            p_high = self._priority.p_high(features[deciding], [every_text[j] for j in deciding]).tolist()
        decisions = []
        for i, (text, ticket_chunks) in enumerate(zip(texts, chunks, strict=True)):
            high = None if p_high is None else float(p_high[i])
            counts = None if keyword_counts is None else keyword_counts[i]
            decisions.append(self._decision(text, pooled[i], ticket_chunks, high, counts))
        return decisions

    def close(self) -> None:
        """Stop the micro-batcher."""
        self._batcher.close()

    def _decision(
        self,
        text: str,
        pooled: PooledScores,
        chunks: Sequence[Chunk],
        p_high: float | None,
        keyword_counts: np.ndarray | None,
    ) -> Decision:
        s, urgency = combine_urgency(pooled.p_negative, text, p_high)
        probs = softmax(pooled.logits[None, :])[0]
        top, runner_up = np.sort(probs)[::-1][:2]
        keywords: dict[str, Any] = {}
        if keyword_counts is not None:
            names = self._categories.names
            keywords["category_keywords"] = dict(zip(names, keyword_counts.tolist(), strict=True))
        return make_decision(
            self._categories.names,
            probs,
            s,
            Explained("embedding", self.encoder.model, self.encoder.model_version, urgency),
            category_method=self._categories.method,
            category_margin=round(float(top - runner_up), 4),
            unsure=bool(top - runner_up < UNSURE_MARGIN),
            chunks=chunks_explanation(chunks, pooled),
            **keywords,
        )


def _companion_head(directory: Path, categories: Sequence[Category], route: str) -> LinearHead | None:
    """The encoder's category head, if it ships one fitted for ``route`` and ``categories`` are the
    defaults it was fitted for (its manifest entry under ``heads`` names the route).

    Raises:
        InferenceFailed: The head's file changed or is unreadable.
    """
    if not (directory / CATEGORY_HEAD).is_file() or list(categories) != load_categories():
        return None
    manifest = Manifest.load(directory)
    if manifest.data.get("heads", {}).get(CATEGORY_HEAD, {}).get("route") != route:
        return None
    manifest.verify(CATEGORY_HEAD)
    return LinearHead.load(directory / CATEGORY_HEAD)


def _priority_head(directory: Path, manifest: Manifest) -> PriorityHead | None:
    """The encoder's priority head with its words score when it ships them (each optional).

    Raises:
        InferenceFailed: A file changed or is unreadable.
    """
    if not (directory / PRIORITY_HEAD).is_file():
        return None
    manifest.verify(PRIORITY_HEAD)
    words = directory / PRIORITY_WORDS
    if words.is_file():
        manifest.verify(PRIORITY_WORDS)
    return PriorityHead.load(directory / PRIORITY_HEAD, words if words.is_file() else None)
