"""Engine: decision format, thread-safe batching, and the baseline fallback paths."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mvr.config import DEFAULT_MODELS_DIR, Settings
from mvr.inference.embedding import UNSURE_MARGIN
from mvr.inference.engine import Engine
from mvr.inference.urgency import FORMULA, FORMULA_WITH_PRIORITY
from mvr.ticket import urgency_label

TICKETS = [
    "I was charged twice for my subscription this month, please refund one payment.",
    "Production is down for all users since 9am, this is urgent!",
    "Our attorney will take legal action over the copyright infringement on your site.",
    "How do I change the language of the dashboard?",
]


@pytest.fixture(scope="module")
def engine() -> Engine:
    engine = Engine.from_settings(Settings())
    yield engine
    engine.close()


def test_default_settings_use_the_int8_embedding_backend(engine: Engine) -> None:
    assert engine.backend_name == "embedding"
    assert engine.fallback_reason is None


def test_decision_format(engine: Engine) -> None:
    manifest = json.loads((DEFAULT_MODELS_DIR / "manifest.json").read_text())
    for decision in engine.decide_many(TICKETS):
        assert set(decision.scores) == {"Billing", "Technical", "Legal"}
        assert sum(decision.scores.values()) == pytest.approx(1.0, abs=2e-4)
        assert decision.category == max(decision.scores, key=decision.scores.__getitem__)
        assert 0.0 <= decision.urgency_score <= 1.0
        assert decision.urgency_label == urgency_label(decision.urgency_score)
        explanation = decision.explanation
        assert explanation["backend"] == "embedding"
        assert explanation["model"] == "all-MiniLM-L6-v2-int8"
        sha = manifest["files"]["encoder-int8.onnx"]["sha256"]
        assert explanation["model_version"] == f"{manifest['source']['version']}+{sha[:8]}"
        assert explanation["fallback"] is False and explanation["fallback_reason"] is None
        assert explanation["category_method"] == "prototypes+head"
        assert set(explanation["urgency"]) == {
            "sentiment_negative",
            "priority_high",
            "cues",
            "cue_score",
            "formula",
        }
        assert explanation["urgency"]["formula"] == FORMULA_WITH_PRIORITY
        json.dumps(decision.to_dict())


def test_routes_and_ranks_urgency(engine: Engine) -> None:
    billing, outage, legal, question = engine.decide_many(TICKETS)
    assert (billing.category, outage.category, legal.category) == ("Billing", "Technical", "Legal")
    assert outage.urgency_label == "high"
    assert question.urgency_score < outage.urgency_score


@pytest.mark.parametrize(
    ("score", "label"),
    [(0.0, "low"), (0.399, "low"), (0.4, "medium"), (0.8, "medium"), (0.8001, "high"), (1.0, "high")],
)
def test_urgency_label_thresholds(score: float, label: str) -> None:
    assert urgency_label(score) == label


def test_concurrent_decide_matches_sequential(engine: Engine) -> None:
    texts = TICKETS * 10
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(engine.decide, texts))
    sequential = [engine.decide(t) for t in TICKETS]
    for i, decision in enumerate(concurrent):
        assert decision.category == sequential[i % len(TICKETS)].category
        assert decision.urgency_score == pytest.approx(sequential[i % len(TICKETS)].urgency_score, abs=0.05)


def test_missing_models_dir_falls_back_to_baseline_and_says_why(tmp_path: Path) -> None:
    engine = Engine.from_settings(Settings(models_dir=tmp_path / "nowhere"))
    decision = engine.decide(TICKETS[0])
    engine.close()
    assert engine.backend_name == "baseline"
    assert decision.explanation["backend"] == "baseline"
    assert decision.explanation["fallback"] is True
    assert decision.explanation["fallback_reason"].startswith("model files missing: ")
    assert "encoder-int8.onnx" in decision.explanation["fallback_reason"]
    assert decision.category == "Billing"


def _copy_models(target: Path) -> Path:
    target.mkdir()
    for path in DEFAULT_MODELS_DIR.iterdir():
        if path.is_file() and path.name != "encoder-fp32.onnx":
            shutil.copy(path, target / path.name)
    return target


def test_changed_model_file_fails_the_manifest_check(tmp_path: Path) -> None:
    models = _copy_models(tmp_path / "models")
    with open(models / "tokenizer.json", "a", encoding="utf-8") as fh:
        fh.write("\n")
    engine = Engine.from_settings(Settings(models_dir=models))
    decision = engine.decide(TICKETS[1])
    assert decision.explanation["fallback"] is True
    assert "sha256 mismatch" in decision.explanation["fallback_reason"]


def test_missing_sentiment_head_falls_back(tmp_path: Path) -> None:
    models = _copy_models(tmp_path / "models")
    (models / "sentiment_head.npz").unlink()
    engine = Engine.from_settings(Settings(models_dir=models))
    assert engine.fallback_reason is not None and "sentiment_head.npz" in engine.fallback_reason


def test_without_a_priority_head_s_uses_the_seed_formula(tmp_path: Path) -> None:
    models = _copy_models(tmp_path / "models")
    (models / "priority_head.npz").unlink()
    engine = Engine.from_settings(Settings(models_dir=models))
    try:
        urgency = engine.decide(TICKETS[1]).explanation["urgency"]
    finally:
        engine.close()
    assert engine.fallback_reason is None
    assert "priority_high" not in urgency and urgency["formula"] == FORMULA


@pytest.mark.parametrize("name", ["priority_head.npz", "priority_words.npz"])
def test_changed_priority_file_fails_the_manifest_check(tmp_path: Path, name: str) -> None:
    models = _copy_models(tmp_path / "models")
    with open(models / name, "ab") as fh:
        fh.write(b"\0")
    engine = Engine.from_settings(Settings(models_dir=models))
    assert engine.fallback_reason is not None and name in engine.fallback_reason


def test_the_words_score_moves_p_high_and_is_optional(engine: Engine, tmp_path: Path) -> None:
    models = _copy_models(tmp_path / "models")
    (models / "priority_words.npz").unlink()
    without_words = Engine.from_settings(Settings(models_dir=models))
    try:
        alone = [d.explanation["urgency"] for d in without_words.decide_many(TICKETS)]
    finally:
        without_words.close()
    shipped = [d.explanation["urgency"] for d in engine.decide_many(TICKETS)]
    assert without_words.fallback_reason is None
    assert [u["formula"] for u in alone] == [u["formula"] for u in shipped] == [FORMULA_WITH_PRIORITY] * 4
    assert all(a["priority_high"] != b["priority_high"] for a, b in zip(alone, shipped, strict=True))


def test_inference_error_answers_with_baseline() -> None:
    # Given a working engine whose batcher then stops (a real failure of the embedding path)
    engine = Engine.from_settings(Settings())
    assert engine.decide(TICKETS[2]).explanation["fallback"] is False
    engine.backend.close()
    # When
    decision = engine.decide(TICKETS[2])
    # Then the ticket still gets a decision, from the baseline, with the reason
    assert decision.explanation["backend"] == "baseline"
    assert decision.explanation["fallback"] is True
    assert decision.explanation["fallback_reason"] == "inference failed: micro-batcher is closed"
    assert decision.category == "Legal"


def test_baseline_backend_chosen_on_purpose_is_not_a_fallback() -> None:
    engine = Engine.from_settings(Settings(backend="baseline"))
    decision = engine.decide(TICKETS[0])
    assert engine.backend_name == "baseline"
    assert decision.explanation["fallback"] is False


def test_nli_backend_without_its_models_falls_back(tmp_path: Path) -> None:
    engine = Engine.from_settings(Settings(backend="nli", models_dir=tmp_path))
    decision = engine.decide(TICKETS[0])
    assert engine.backend_name == "baseline"
    assert decision.explanation["fallback"] is True
    assert decision.explanation["fallback_reason"]


def test_margin_between_the_top_two_categories_and_the_unsure_flag(engine: Engine) -> None:
    clear, vague = engine.decide_many(
        ["I was charged twice for my subscription, please refund me.", "Hello."]
    )
    for decision in (clear, vague):
        top, second = sorted(decision.scores.values(), reverse=True)[:2]
        assert decision.explanation["category_margin"] == pytest.approx(top - second, abs=2e-4)
        assert decision.explanation["unsure"] is (decision.explanation["category_margin"] < UNSURE_MARGIN)
    assert clear.explanation["unsure"] is False
    assert vague.explanation["unsure"] is True
