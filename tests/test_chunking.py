"""Long tickets: chunking, pooling, and a decisive sentence buried after 600 words."""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import pytest

from mvr.config import Settings
from mvr.inference.chunking import MAX_CHUNKS, WHOLE_WORDS, WINDOW_WORDS, chunk_ticket, pool_scores
from mvr.inference.engine import Engine

#: Small talk with no category and no urgency in it.
PLEASANTRIES = [
    "Thank you so much for the wonderful help your team gave us last spring.",
    "I hope everyone at the office is doing well and enjoying the season.",
    "We have been happy customers for many years and recommend you to friends.",
    "Our team really appreciates the friendly tone of your newsletters.",
    "The weather here has been lovely and we went hiking on the weekend.",
    "My colleague Anna says hello and sends her regards to the support crew.",
    "We also enjoyed the webinar last month, it was very informative.",
]

DECISIVE = [
    "Since this morning our production server is down and none of our users can log in, please help.",
    "I was charged twice for my subscription this month and need a refund.",
    "Under the GDPR I request a copy of all personal data you hold about me.",
    "The export to CSV fails with an error since the last update.",
]


def small_talk(words: int, seed: int) -> str:
    rng = random.Random(seed)
    text: list[str] = []
    while len(text) < words:
        text += rng.choice(PLEASANTRIES).split()
    return " ".join(text)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    engine = Engine.from_settings(Settings())
    yield engine
    engine.close()


@pytest.mark.parametrize("sentence", DECISIVE)
def test_decisive_sentence_after_600_words_decides_like_the_sentence_alone(
    engine: Engine, sentence: str
) -> None:
    # Given a sentence, alone and after 600 words of small talk
    alone, buried = engine.decide_many([sentence, f"{small_talk(600, seed=len(sentence))} {sentence}"])
    # Then the long ticket gets the same category and nearly the same S
    assert buried.category == alone.category
    assert abs(buried.urgency_score - alone.urgency_score) <= 0.05
    # And the explanation points at the chunk holding the sentence
    chunks = buried.explanation["chunks"]
    assert chunks["count"] > 1
    assert sentence.startswith(chunks["category"]["excerpt"].rstrip("…"))
    assert alone.explanation["chunks"] is None


def test_short_ticket_is_read_whole() -> None:
    assert chunk_ticket("word " * WHOLE_WORDS) == []


def test_long_ticket_is_cut_into_sentences_with_their_offsets() -> None:
    text = small_talk(400, seed=1)
    chunks = chunk_ticket(text)
    assert len(chunks) > 1
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text in PLEASANTRIES


def test_overlong_sentence_is_cut_into_overlapping_windows() -> None:
    words = [f"w{i}" for i in range(WHOLE_WORDS + 100)]
    chunks = chunk_ticket(" ".join(words))
    assert all(len(c.text.split()) <= WINDOW_WORDS for c in chunks)
    assert chunks[0].text.split()[0] == "w0" and chunks[-1].text.split()[-1] == words[-1]
    for left, right in zip(chunks, chunks[1:], strict=False):
        assert right.start < left.end  # neighbours overlap


def test_ticket_over_the_chunk_cap_is_still_read_whole_in_bigger_pieces() -> None:
    sentences = [f"Sentence number {i} of a very long ticket." for i in range(MAX_CHUNKS * 3 + 5)]
    text = " ".join(sentences)
    chunks = chunk_ticket(text)
    assert len(chunks) <= MAX_CHUNKS
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    for left, right in zip(chunks, chunks[1:], strict=False):
        assert text[left.end : right.start].strip() == ""  # nothing skipped between pieces
    assert all(text[ch.start : ch.end] == ch.text for ch in chunks)


def test_pooling_takes_the_best_chunk_per_category_and_the_most_negative_piece() -> None:
    whole = np.array([1.0, 0.0])
    chunk_logits = np.array([[0.0, 0.0], [0.0, 4.0]])
    pooled = pool_scores(whole, chunk_logits, 0.2, np.array([0.1, 0.9]))
    assert pooled.logits.tolist() == [0.5, 2.0]
    assert (pooled.category_chunk, pooled.urgency_chunk, pooled.p_negative) == (1, 1, 0.9)
    calm = pool_scores(whole, chunk_logits, 0.95, np.array([0.1, 0.9]))
    assert (calm.p_negative, calm.urgency_chunk) == (0.95, None)
