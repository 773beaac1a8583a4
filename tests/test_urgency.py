"""Urgency S: the combination formula and the SST-2 sentiment head on real embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mvr.config import DEFAULT_MODELS_DIR
from mvr.errors import InferenceFailed
from mvr.inference.encoder import Encoder
from mvr.inference.linear import LinearHead
from mvr.inference.urgency import FORMULA, SentimentHead, combine_urgency


@pytest.mark.parametrize(
    ("p_negative", "text", "expected"),
    [
        (0.0, "A question about fonts.", 0.0),
        (1.0, "A question about fonts.", 0.6),
        (0.5, "A question about fonts.", 0.3),
        (0.0, "Please call me back asap.", 0.65),
        (1.0, "Please call me back asap.", 1 - 0.4 * 0.35),
    ],
)
def test_combine_urgency_follows_the_formula(p_negative: float, text: str, expected: float) -> None:
    s, _ = combine_urgency(p_negative, text)
    assert s == pytest.approx(expected)


def test_explanation_shows_each_part() -> None:
    s, explanation = combine_urgency(0.25, "Production is down and this is urgent")
    assert explanation["sentiment_negative"] == 0.25
    assert {"outage", "asap"} <= set(explanation["cues"])
    assert explanation["cue_score"] == pytest.approx(1 - (1 - 0.9) * (1 - 0.65) * (1 - 0.9), abs=1e-4)
    assert explanation["formula"] == FORMULA
    assert s > 0.99


@given(st.floats(min_value=-1.0, max_value=2.0), st.text(max_size=300))
def test_s_is_always_in_unit_interval(p_negative: float, text: str) -> None:
    s, _ = combine_urgency(p_negative, text)
    assert 0.0 <= s <= 1.0


@given(st.floats(min_value=0.0, max_value=1.0), st.floats(min_value=0.0, max_value=1.0))
def test_more_negative_is_never_less_urgent(a: float, b: float) -> None:
    text = "The invoice is wrong, fix it by tomorrow."
    low, high = sorted((a, b))
    assert combine_urgency(low, text)[0] <= combine_urgency(high, text)[0]


def test_sentiment_head_ranks_angry_above_happy() -> None:
    encoder = Encoder.from_dir(DEFAULT_MODELS_DIR, threads=1)
    head = SentimentHead.load(DEFAULT_MODELS_DIR / "sentiment_head.npz")
    angry = ["This is the worst service I have ever used, I am furious.", "Terrible, nobody helps."]
    happy = ["Thank you so much, the new version is wonderful!", "Great support, quick and friendly."]
    p = head.p_negative(encoder.encode(angry + happy))
    assert p[:2].min() > 0.5 > p[2:].max()


def test_sentiment_head_needs_a_negative_class() -> None:
    head = LinearHead(np.zeros((4, 2), np.float32), np.zeros(2, np.float32), ("good", "bad"))
    with pytest.raises(InferenceFailed, match="negative"):
        SentimentHead(head)
