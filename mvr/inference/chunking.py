"""Long tickets: cut into sentence chunks, and pool the chunks' scores into one decision.

The encoder reads its first window of tokens only, so a ticket whose decisive
sentence comes after 600 words of pleasantries would be judged on the
pleasantries. A ticket longer than ``whole_words`` words is therefore also read
sentence by sentence (a sentence longer than ``window_words`` is cut into
overlapping word windows). Its category logits are the mean of the whole
text's and, per category, the best chunk's; its P(negative) is the most
negative of the whole text and the chunks. The choice of sentences over fixed
windows, and of this pooling, is measured in benchmarks/RESULTS.md "Long tickets".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Chunk", "PooledScores", "chunk_ticket", "chunks_explanation", "pool_scores"]

#: Tickets up to this many words are read whole (about 200 MiniLM tokens, inside its 256 window).
WHOLE_WORDS = 150
#: A sentence longer than this many words is cut into windows of this size.
WINDOW_WORDS = 64
#: Words shared by neighbouring windows of one long sentence.
OVERLAP_WORDS = 16
#: Most chunks read per ticket; beyond it neighbouring sentences are read together, so the whole
#: ticket is still read (at 7,000 words, MVR's largest ticket, a piece is ~150 words, inside the
#: encoder's window). Bounds the cost of a long ticket (benchmarks/RESULTS.md "Long tickets").
MAX_CHUNKS = 48
#: Characters of a deciding chunk quoted in the explanation.
EXCERPT_CHARS = 160
#: Weight of the whole text's logits against the best chunk's, per category.
WHOLE_WEIGHT = 0.5

_SENTENCE = re.compile(r"[^.!?。！？\n]+(?:[.!?。！？]+|\n|$)")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Chunk:
    """One piece of a ticket: its text and where it lies in the ticket (character offsets)."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class PooledScores:
    """One ticket's scores pooled over its whole text and its chunks.

    Attributes:
        logits: Category logits [k].
        p_negative: P(negative) of the most negative piece, in [0, 1].
        category_chunk: Index of the chunk that scored best for the chosen category, or None.
        urgency_chunk: Index of the most negative chunk, or None when the whole text was.
    """

    logits: np.ndarray
    p_negative: float
    category_chunk: int | None
    urgency_chunk: int | None


def chunk_ticket(text: str, *, max_chunks: int = MAX_CHUNKS) -> list[Chunk]:
    """Return the chunks of a long ticket; none when it is short enough to be read whole."""
    if len(_WORD.findall(text)) <= WHOLE_WORDS:
        return []
    chunks = [piece for sentence in _sentences(text) for piece in _windows(text, sentence)]
    words = len(_WORD.findall(text))
    target = -(-words // max_chunks)
    while len(chunks) > max_chunks:
        chunks = _merge(text, chunks, target)
        target += 1
    return chunks


def pool_scores(
    whole_logits: np.ndarray, chunk_logits: np.ndarray, whole_negative: float, chunk_negative: np.ndarray
) -> PooledScores:
    """Pool a ticket's whole-text scores with its chunks' (``chunk_logits`` [c, k], c may be 0)."""
    if len(chunk_logits) == 0:
        return PooledScores(whole_logits, whole_negative, None, None)
    logits = WHOLE_WEIGHT * whole_logits + (1.0 - WHOLE_WEIGHT) * chunk_logits.max(axis=0)
    category_chunk = int(np.argmax(chunk_logits[:, int(np.argmax(logits))]))
    most_negative = int(np.argmax(chunk_negative))
    if chunk_negative[most_negative] > whole_negative:
        return PooledScores(logits, float(chunk_negative[most_negative]), category_chunk, most_negative)
    return PooledScores(logits, whole_negative, category_chunk, None)


def _merge(text: str, chunks: list[Chunk], target_words: int) -> list[Chunk]:
    """Join neighbouring chunks into pieces of at least ``target_words`` words (the last may be short)."""
    groups: list[list[Chunk]] = [[]]
    words = 0
    for chunk in chunks:
        if words >= target_words:
            groups.append([])
            words = 0
        groups[-1].append(chunk)
        words += len(_WORD.findall(chunk.text))
    return [Chunk(text[g[0].start : g[-1].end], g[0].start, g[-1].end) for g in groups]


def _sentences(text: str) -> list[Chunk]:
    found = []
    for match in _SENTENCE.finditer(text):
        stripped = match.group().strip()
        if stripped:
            start = match.start() + match.group().index(stripped)
            found.append(Chunk(stripped, start, start + len(stripped)))
    return found


def _windows(text: str, sentence: Chunk) -> list[Chunk]:
    """Return ``sentence`` itself, or overlapping word windows of it when it is too long."""
    spans = [(sentence.start + m.start(), sentence.start + m.end()) for m in _WORD.finditer(sentence.text)]
    if len(spans) <= WINDOW_WORDS:
        return [sentence]
    stride = WINDOW_WORDS - OVERLAP_WORDS
    windows = []
    for first in range(0, len(spans) - OVERLAP_WORDS, stride):
        begin, end = spans[first][0], spans[min(first + WINDOW_WORDS, len(spans)) - 1][1]
        windows.append(Chunk(text[begin:end], begin, end))
    return windows


def chunks_explanation(chunks: Sequence[Chunk], pooled: PooledScores) -> dict[str, object] | None:
    """Say which chunks decided: None for a ticket read whole, else counts, offsets and excerpts."""
    if not chunks:
        return None
    return {
        "count": len(chunks),
        "category": _describe(chunks, pooled.category_chunk),
        "urgency": _describe(chunks, pooled.urgency_chunk),
    }


def _describe(chunks: Sequence[Chunk], index: int | None) -> dict[str, object] | None:
    if index is None:
        return None
    chunk = chunks[index]
    excerpt = chunk.text if len(chunk.text) <= EXCERPT_CHARS else chunk.text[: EXCERPT_CHARS - 1] + "…"
    return {"index": index, "start": chunk.start, "end": chunk.end, "excerpt": excerpt}
