"""MicroBatcher on the real int8 encoder: ordering, batching rules, errors, timeouts, close."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from mvr.config import DEFAULT_MODELS_DIR
from mvr.errors import InferenceFailed
from mvr.inference.batcher import MicroBatcher, runner_layout
from mvr.inference.encoder import Encoder

TEXTS = [
    "I was charged twice for my subscription.",
    "The mobile app crashes when I open my profile page after the last update.",
    "Our lawyer says your terms of service break consumer law.",
    "Where can I download last year's invoices?",
    "Password reset emails never arrive.",
    "The API returns error 502 for every request since this morning, which blocks our whole release.",
    "Thanks, everything works now!",
    "Please delete all my personal data.",
    "Printer jams.",
    "We would like a quote for fifty more seats on the team plan, billed yearly, with a discount.",
    "The dashboard is slow.",
    "A copyright claim against our repository was filed by mistake.",
]


#: Four texts of one token length.
SAME_LENGTH = ["red car", "blue sky", "green tea", "old map"]


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder.from_dir(DEFAULT_MODELS_DIR, threads=1)


@pytest.fixture(scope="module")
def references(encoder: Encoder) -> np.ndarray:
    """Each text's features (embedding, then inner layers) on its own: no batching, no padding."""
    return np.stack([encoder.features([t])[0] for t in TEXTS])


class _Probe:
    """The real encoder, recording each call's token lengths; it can delay runs or poison a text.

    A poisoned text gets a token id far outside the vocabulary, so ONNX Runtime itself fails.
    """

    def __init__(self, encoder: Encoder, *, poison: str | None = None, delay_s: float = 0.0) -> None:
        self._encoder = encoder
        self._poison = poison
        self._delay_s = delay_s
        self.calls: list[list[int]] = []

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        ids = self._encoder.tokenize(texts)
        bad = [101, 10_000_000, 102]
        return [bad if t == self._poison else row for t, row in zip(texts, ids, strict=True)]

    def embed_ids(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        self.calls.append([len(row) for row in ids])
        time.sleep(self._delay_s)
        return self._encoder.embed_ids(ids)


@pytest.fixture
def batcher_factory() -> Iterator:
    made: list[MicroBatcher] = []

    def make(encoder: object, **kwargs: float) -> MicroBatcher:
        made.append(MicroBatcher(encoder, **kwargs))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for batcher in made:
        batcher.close()


def _assert_own_results(results: np.ndarray, references: np.ndarray) -> None:
    similarity = results @ references.T
    assert list(similarity.argmax(axis=1)) == list(range(len(references)))
    # int8 dynamic quantisation scales activations per batch, so batch-mates nudge results a little.
    assert np.all(np.diag(similarity) > 0.95)


def test_each_concurrent_caller_gets_its_own_texts_embedding(encoder, references, batcher_factory) -> None:
    # Given a batcher that waits long enough for the callers to share batches
    probe = _Probe(encoder)
    batcher = batcher_factory(probe, max_wait_ms=50, sub_batch=4)
    # When every text is submitted from its own thread, all at once
    barrier = threading.Barrier(len(TEXTS))

    def call(text: str) -> np.ndarray:
        barrier.wait()
        return batcher.submit(text)

    with ThreadPoolExecutor(len(TEXTS)) as pool:
        results = np.stack(list(pool.map(call, TEXTS)))
    # Then each caller got the embedding of its own text, and runs were shared
    _assert_own_results(results, references)
    assert sum(len(c) for c in probe.calls) == len(TEXTS)
    assert len(probe.calls) < len(TEXTS)


@pytest.mark.parametrize("runners", [1, 2])
def test_many_threads_many_requests_all_answered_correctly(
    encoder, references, batcher_factory, runners
) -> None:
    batcher = batcher_factory(encoder, max_wait_ms=2, runners=runners)
    jobs = [i % len(TEXTS) for i in range(200)]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: (i, batcher.submit(TEXTS[i])), jobs))
    for i, vector in results:
        assert float(vector @ references[i]) > 0.95 * float(references[i] @ references[i])
        assert int(np.argmax(references @ vector)) == i


def test_submit_many_keeps_input_order(encoder, references, batcher_factory) -> None:
    batcher = batcher_factory(encoder, max_batch=5, sub_batch=2)
    _assert_own_results(batcher.submit_many(TEXTS), references)


def test_flushes_at_max_batch_without_waiting(encoder, batcher_factory) -> None:
    # Given a 10 s wait but room for only 4 texts
    probe = _Probe(encoder)
    batcher = batcher_factory(probe, max_batch=4, sub_batch=4, max_wait_ms=10_000)
    # When 4 texts of one length arrive
    started = time.monotonic()
    batcher.submit_many(SAME_LENGTH)
    # Then they ran as one batch at once
    assert time.monotonic() - started < 5.0
    assert [len(c) for c in probe.calls] == [4]


def test_flushes_at_token_budget(encoder, batcher_factory) -> None:
    # Given texts of one token length and a budget of two such texts
    texts = SAME_LENGTH
    lengths = encoder.token_lengths(texts)
    assert len(set(lengths)) == 1
    probe = _Probe(encoder)
    batcher = batcher_factory(probe, max_batch=100, max_tokens=2 * lengths[0], max_wait_ms=200)
    # When
    batcher.submit_many(texts)
    # Then
    assert [len(c) for c in probe.calls] == [2, 2]


def test_sorts_by_length_and_pads_per_sub_batch(encoder, batcher_factory) -> None:
    # Given one flush of texts of many lengths
    probe = _Probe(encoder)
    batcher = batcher_factory(probe, max_batch=len(TEXTS), sub_batch=3, max_wait_ms=200)
    # When
    batcher.submit_many(TEXTS)
    # Then they ran shortest first, at most 3 per call, each call padded by at most 25%
    flat = [n for call in probe.calls for n in call]
    assert flat == sorted(encoder.token_lengths(TEXTS))
    for call in probe.calls:
        assert len(call) <= 3
        assert len(call) == 1 or len(call) * max(call) <= 1.25 * sum(call)
    assert max(len(c) for c in probe.calls) > 1


def test_equal_lengths_fill_whole_sub_batches(encoder, batcher_factory) -> None:
    probe = _Probe(encoder)
    batcher = batcher_factory(probe, max_batch=8, sub_batch=3, max_wait_ms=200)
    batcher.submit_many(SAME_LENGTH + SAME_LENGTH)
    assert [len(c) for c in probe.calls] == [3, 3, 2]


def test_error_reaches_every_caller_of_the_batch(encoder, batcher_factory) -> None:
    # Given a text that makes ONNX Runtime fail, batched with two good ones from other threads
    probe = _Probe(encoder, poison="POISON")
    batcher = batcher_factory(probe, max_wait_ms=300)
    barrier = threading.Barrier(3)

    def call(text: str) -> str:
        barrier.wait()
        try:
            batcher.submit(text)
        except InferenceFailed as ex:
            return str(ex)
        return "ok"

    # When
    with ThreadPoolExecutor(3) as pool:
        outcomes = list(pool.map(call, [TEXTS[0], "POISON", TEXTS[1]]))
    # Then all three callers hear of the failure, and the batcher keeps serving
    assert len(probe.calls) == 1
    assert all(o.startswith("encoder run failed") for o in outcomes), outcomes
    assert batcher.submit(TEXTS[2]).shape == (5 * encoder.dimension,)


def test_caller_timeout_raises_and_batcher_recovers(encoder, batcher_factory) -> None:
    probe = _Probe(encoder, delay_s=1.0)
    batcher = batcher_factory(probe, max_wait_ms=1)
    started = time.monotonic()
    with pytest.raises(InferenceFailed, match="timed out"):
        batcher.submit(TEXTS[0], timeout_s=0.1)
    assert time.monotonic() - started < 0.8
    assert batcher.submit(TEXTS[1], timeout_s=10).shape == (5 * encoder.dimension,)


def test_close_drains_collected_texts_then_refuses_new_ones(encoder, batcher_factory) -> None:
    # Given a caller waiting in a batch that would wait 10 s for more texts
    batcher = batcher_factory(encoder, max_wait_ms=10_000)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(batcher.submit, TEXTS[0])
        time.sleep(0.2)
        # When the batcher is closed
        started = time.monotonic()
        batcher.close()
        # Then the caller still gets its embedding, promptly
        assert waiting.result(timeout=5).shape == (5 * encoder.dimension,)
    assert time.monotonic() - started < 5.0
    with pytest.raises(InferenceFailed, match="closed"):
        batcher.submit(TEXTS[1])
    batcher.close()


@pytest.mark.parametrize(
    ("ort_threads", "cpus", "layout"),
    [(0, 2, (1, 2)), (0, 1, (1, 1)), (0, 16, (1, 4)), (3, 16, (3, 1)), (1, 2, (1, 1))],
)
def test_runner_layout(ort_threads: int, cpus: int, layout: tuple[int, int]) -> None:
    assert runner_layout(ort_threads, cpus) == layout


def test_error_in_one_runner_reaches_its_callers_only(encoder, batcher_factory) -> None:
    # Given two runners and a poisoned text sent alone, then good texts
    batcher = batcher_factory(_Probe(encoder, poison="POISON"), runners=2, max_wait_ms=1)
    with pytest.raises(InferenceFailed):
        batcher.submit("POISON")
    # Then the other runner and later batches still work
    assert batcher.submit_many(TEXTS[:3]).shape == (3, 5 * encoder.dimension)
