"""Split a long text into windows an encoder reads whole, at whitespace, with some overlap."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

__all__ = ["DEFAULT_OVERLAP", "split_windows"]

#: Tokens two neighbouring windows share, so a sentence cut at a border is read whole once.
DEFAULT_OVERLAP = 32


def split_windows(
    text: str, count_tokens: Callable[[Sequence[str]], list[int]], max_tokens: int, overlap: int
) -> list[str]:
    """Split ``text`` at whitespace into windows of at most ``max_tokens`` tokens each.

    Neighbouring windows share about ``overlap`` tokens of words. A single word longer than a
    window stays whole (the encoder then cuts it). Windows are slices of ``text``.

    Args:
        text: The text to split.
        count_tokens: The encoder's token counter (special tokens included).
        max_tokens: The encoder's window.
        overlap: Tokens neighbouring windows share (at most half a window).
    """
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    if not spans or count_tokens([text])[0] <= max_tokens:
        return [text]
    overhead = count_tokens([""])[0]
    costs = [max(n - overhead, 1) for n in count_tokens([text[a:b] for a, b in spans])]
    budget = max_tokens - overhead
    overlap = min(overlap, budget // 2)
    windows: list[str] = []
    start = 0
    while True:
        end, used = start, 0
        while end < len(spans) and used + costs[end] <= budget:
            used += costs[end]
            end += 1
        end = max(end, start + 1)
        # Words tokenised alone can count fewer tokens than in context: check and shrink.
        while end > start + 1 and count_tokens([text[spans[start][0] : spans[end - 1][1]]])[0] > max_tokens:
            end -= 1
        windows.append(text[spans[start][0] : spans[end - 1][1]])
        if end >= len(spans):
            return windows
        shared, following = 0, end
        while following > start + 1 and shared + costs[following - 1] <= overlap:
            following -= 1
            shared += costs[following]
        start = following
