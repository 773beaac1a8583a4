"""Micro-batcher: one encoder, many caller threads, batched runs.

Callers (a worker's Dramatiq threads) ``submit`` a text and block on its
embedding. One background thread collects texts until ``max_batch`` texts, a
budget of padded tokens, or ``max_wait_ms`` after the first text (it stops
waiting, but still takes what is queued, once it holds a full sub-batch), then sorts
them by token length and runs them in length-sorted sub-batches, each padded
only to its own longest text. An error reaches every caller of that batch.
With several runners, batches run side by side; a batch is collected only when
a runner is free, so batches grow by themselves when the encoder is busy.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Iterator, Sequence, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from mvr.config import Settings
from mvr.errors import InferenceFailed

__all__ = ["MicroBatcher", "TokenEncoder", "runner_layout"]

logger = logging.getLogger(__name__)

#: Defaults of a flush's size, token budget and wait: the settings' (``MVR_BATCH_*``).
DEFAULT_MAX_BATCH = Settings.batch_max_size
DEFAULT_MAX_TOKENS = Settings.batch_max_tokens
DEFAULT_MAX_WAIT_MS = Settings.batch_max_wait_ms
#: Default largest number of texts in one encoder call (a length-sorted sub-batch). PERF: on the
#: 2-core AVX-512 VNNI box, int8 MiniLM ran sorted texts at 74/98/101/85/81/58 texts/s in
#: sub-batches of 1/2/4/8/16/32, so sub-batches stay small (benchmarks/RESULTS_inference.md).
DEFAULT_SUB_BATCH = 4
#: Largest share of padding tokens (relative to real tokens) a sub-batch may carry.
MAX_PADDING = 0.25
#: Default time, in seconds, a caller waits for its embedding.
DEFAULT_TIMEOUT_S = 60.0


#: Most batches run at once when ``MVR_ORT_THREADS`` is 0.
MAX_RUNNERS = 4


def runner_layout(ort_threads: int, cpus: int | None = None) -> tuple[int, int]:
    """Return (ONNX Runtime intra-op threads per run, runners) for ``MVR_ORT_THREADS``.

    0 means one single-threaded run per CPU (at most ``MAX_RUNNERS``); N > 0 means one
    run at a time with N intra-op threads.
    """
    # PERF: MiniLM's matrices are small, so splitting one run over 2 threads syncs a lot; on the
    # 2-core box 8 callers got 61 texts/s from 2 runners x 1 thread vs 29 from 1 runner x 2 threads.
    if ort_threads > 0:
        return ort_threads, 1
    available = cpus if cpus is not None else len(os.sched_getaffinity(0))
    return 1, max(1, min(available, MAX_RUNNERS))


class TokenEncoder(Protocol):
    """What the batcher needs from an encoder: items sized by their tokens, and a batched run.

    ``tokenize`` returns one item per text (token ids for ONNX encoders); ``len(item)`` is its
    token count, which the batcher sorts and budgets by. ``embed_ids`` runs a list of items.
    """

    def tokenize(self, texts: Sequence[str]) -> Sequence[Sized]: ...

    def embed_ids(self, ids: Sequence[Any]) -> np.ndarray: ...


@dataclass
class _Item:
    ids: Sized
    future: Future[np.ndarray] = field(default_factory=Future)


@dataclass
class _Batch:
    items: list[_Item] = field(default_factory=list)
    longest: int = 0

    def fits(self, item: _Item, max_batch: int, max_tokens: int) -> bool:
        padded = (len(self.items) + 1) * max(self.longest, len(item.ids))
        return not self.items or (len(self.items) < max_batch and padded <= max_tokens)

    def add(self, item: _Item) -> None:
        self.items.append(item)
        self.longest = max(self.longest, len(item.ids))


class MicroBatcher:
    """Batch concurrent ``submit`` calls into few encoder runs; thread-safe."""

    def __init__(
        self,
        encoder: TokenEncoder,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        max_wait_ms: float = DEFAULT_MAX_WAIT_MS,
        sub_batch: int = DEFAULT_SUB_BATCH,
        max_padding: float = MAX_PADDING,
        runners: int = 1,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        """Start the background thread.

        Args:
            encoder: Tokenizes texts and embeds padded token ids.
            max_batch: Largest number of texts in one flush.
            max_tokens: Largest padded size (texts × longest, in tokens) of one flush.
            max_wait_ms: How long, in milliseconds, to wait for more texts after the first.
            sub_batch: Largest number of texts in one encoder call.
            max_padding: Largest share of padding tokens, relative to real tokens, in one call
                (``math.inf`` pads each sub-batch to its longest text whatever the waste).
            timeout_s: How long, in seconds, a caller waits for its embedding.
            runners: Batches run at the same time (give the encoder 1 intra-op thread per runner).
                While every runner is busy, new texts wait in the queue and form the next batch.
        """
        self._encoder = encoder
        self._max_batch = max_batch
        self._max_tokens = max_tokens
        self._max_wait_s = max_wait_ms / 1000.0
        self._sub_batch = sub_batch
        self._max_padding = max_padding
        self._timeout_s = timeout_s
        # None in the queue asks the background thread to stop.
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._closed = threading.Event()
        self._stopping = False
        self._held: _Item | None = None
        self._slots = threading.Semaphore(runners)
        self._pool = ThreadPoolExecutor(runners, thread_name_prefix="mvr-encoder") if runners > 1 else None
        self._thread = threading.Thread(target=self._run, name="mvr-batcher", daemon=True)
        self._thread.start()

    def submit(self, text: str, *, timeout_s: float | None = None) -> np.ndarray:
        """Return the encoder's features of ``text`` (``embed_ids``), blocking until its batch has run.

        Raises:
            InferenceFailed: The batch failed, the wait timed out, or the batcher is closed.
        """
        features: np.ndarray = self.submit_many([text], timeout_s=timeout_s)[0]
        return features

    def submit_many(self, texts: Sequence[str], *, timeout_s: float | None = None) -> np.ndarray:
        """Return features [n, d] of ``texts`` (``embed_ids``); they may share batches with other callers.

        Raises:
            InferenceFailed: A batch failed, the wait timed out, or the batcher is closed.
        """
        if self._closed.is_set():
            raise InferenceFailed("micro-batcher is closed")
        items = [_Item(ids) for ids in self._encoder.tokenize(texts)]
        for item in items:
            self._queue.put(item)
        if self._closed.is_set():  # closed meanwhile: the background thread may never see these
            self._fail_pending()
        deadline = time.monotonic() + (self._timeout_s if timeout_s is None else timeout_s)
        return np.stack([_wait(item.future, deadline) for item in items]) if items else np.zeros((0, 0))

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the background thread: texts already in a batch still run, queued ones fail.

        Callers whose texts were still queued get ``InferenceFailed``; so does any later ``submit``.
        """
        if self._closed.is_set():
            return
        self._closed.set()
        self._queue.put(None)
        self._thread.join(timeout_s)
        self._fail_pending()

    def _run(self) -> None:
        while True:
            self._slots.acquire()  # collect only once a runner is free: batches grow under load
            batch = self._collect()
            if batch is None:
                break
            if self._pool is None:
                self._run_batch(batch)
            else:
                self._pool.submit(self._run_batch, batch)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._fail_pending()

    def _run_batch(self, batch: _Batch) -> None:
        try:
            _flush(self._encoder, batch, self._sub_batch, self._max_padding)
        finally:
            self._slots.release()

    def _collect(self) -> _Batch | None:
        first = self._first()
        if first is None:
            return None
        batch = _Batch()
        batch.add(first)
        deadline = time.monotonic() + self._max_wait_s
        while len(batch.items) < self._max_batch:
            # Once a full sub-batch is in hand, take only what is already queued: waiting longer
            # would idle a runner (PERF: 8 callers, 2 runners: +20% texts/s over waiting 5 ms).
            full = len(batch.items) >= self._sub_batch
            try:
                item = self._queue.get(timeout=0.0 if full else max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                break
            if item is None:
                self._stopping = True
                break
            if not batch.fits(item, self._max_batch, self._max_tokens):
                self._held = item
                break
            batch.add(item)
        return batch

    def _first(self) -> _Item | None:
        """Return the text that opens the next batch (blocking), or None to stop."""
        if self._held is not None:
            item, self._held = self._held, None
            return item
        return None if self._stopping else self._queue.get()

    def _fail_pending(self) -> None:
        error = InferenceFailed("micro-batcher is closed")
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Item) and not item.future.done():
                item.future.set_exception(error)


def _flush(encoder: TokenEncoder, batch: _Batch, sub_batch: int, max_padding: float) -> None:
    """Run ``batch`` as length-sorted sub-batches and resolve every caller's future."""
    # A caller that timed out has cancelled its future; the rest now cannot be cancelled.
    live = [item for item in batch.items if item.future.set_running_or_notify_cancel()]
    ordered = sorted(live, key=lambda item: len(item.ids))
    try:
        for chunk in _sub_batches(ordered, sub_batch, max_padding):
            vectors = encoder.embed_ids([item.ids for item in chunk])
            for item, vector in zip(chunk, vectors, strict=True):
                item.future.set_result(vector)
    except Exception as ex:  # every caller of the batch must hear about any failure
        logger.warning("Micro-batch of %d texts failed: %s.", len(ordered), ex)
        error = ex if isinstance(ex, InferenceFailed) else InferenceFailed(f"encoder failed: {ex!r}")
        for item in ordered:
            if not item.future.done():
                item.future.set_exception(error)


def _sub_batches(ordered: list[_Item], sub_batch: int, max_padding: float) -> Iterator[list[_Item]]:
    """Split length-sorted items into runs of at most ``sub_batch`` with little padding."""
    # PERF: padding wasted beyond max_padding costs more than the extra encoder call saves: on
    # flushes of 8 mixed-length texts padded tokens fall from 1.29x to 1.12x the real tokens.
    chunk: list[_Item] = []
    real = 0
    for item in ordered:
        padded = (len(chunk) + 1) * len(item.ids)
        if chunk and (len(chunk) >= sub_batch or padded > (1 + max_padding) * (real + len(item.ids))):
            yield chunk
            chunk, real = [], 0
        chunk.append(item)
        real += len(item.ids)
    if chunk:
        yield chunk


def _wait(future: Future[np.ndarray], deadline: float) -> np.ndarray:
    try:
        return future.result(timeout=max(deadline - time.monotonic(), 0.0))
    except FutureTimeout:
        future.cancel()
        raise InferenceFailed("timed out waiting for the micro-batcher") from None
