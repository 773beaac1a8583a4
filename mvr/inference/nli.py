"""NLI backend (``MVR_BACKEND=nli``): zero-shot category and sentiment from exported classifiers.

For users who have hub models locally. ``scripts/export_onnx.py --task zero-shot`` and
``--task sentiment`` write ``models_dir/nli/`` and ``models_dir/sentiment/``; each holds
``model.onnx`` (and ``model-int8.onnx``, preferred when present), ``tokenizer.json``,
``config.json`` (label names) and ``manifest.json`` (sha256 of the files, checked at load).

Category: like the transformers zero-shot pipeline with ``multi_label=False``, each ticket is
paired with the hypothesis "This ticket is about {name}." for every category, and the
softmax of the entailment logits across categories gives the scores. Urgency S combines the
sentiment model's P(negative) with urgency cues (``mvr.inference.urgency.combine_urgency``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from mvr.errors import InferenceFailed
from mvr.inference.encoder import Manifest, session_options
from mvr.inference.linear import softmax
from mvr.inference.model_files import (
    CLASSIFIER_CONFIG,
    CLASSIFIER_FP32,
    CLASSIFIER_INT8,
    MANIFEST,
    TOKENIZER,
)
from mvr.inference.urgency import combine_urgency
from mvr.ticket import Decision, urgency_label

if TYPE_CHECKING:
    from mvr.categories import Category

__all__ = ["HYPOTHESIS_TEMPLATE", "NliBackend"]

#: The zero-shot hypothesis; ``{label}`` is the category name.
HYPOTHESIS_TEMPLATE = "This ticket is about {label}."
#: Tokens per premise/hypothesis pair or sentiment text; longer premises are truncated.
DEFAULT_MAX_LENGTH = 256
#: Sequences per ONNX Runtime call: bounds memory with many categories or long tickets.
DEFAULT_BATCH_SEQUENCES = 32
#: Model files in preference order: int8 is several times faster on CPU.
MODEL_FILES = (CLASSIFIER_INT8, CLASSIFIER_FP32)


class NliBackend:
    """Category by zero-shot NLI, urgency by a sentiment classifier plus cues; thread-safe."""

    def __init__(self, model_dir: Path, categories: Sequence[Category], *, threads: int = 0) -> None:
        """Load ``model_dir/nli/`` and ``model_dir/sentiment/``.

        Args:
            model_dir: The models directory (``models_export/``).
            categories: The categories to choose from (at least 2).
            threads: ONNX Runtime intra-op threads; 0 lets ONNX Runtime choose.

        Raises:
            InferenceFailed: A file is missing, changed, or the NLI model has no entailment label.
        """
        if len(categories) < 2:
            raise InferenceFailed(f"the NLI backend needs at least 2 categories, got {len(categories)}")
        self.names = [c.name for c in categories]
        self._hypotheses = [HYPOTHESIS_TEMPLATE.format(label=name) for name in self.names]
        self._nli = _Classifier.load(Path(model_dir) / "nli", threads)
        self._sentiment = _Classifier.load(Path(model_dir) / "sentiment", threads)
        entailment = self._nli.label_index("entail")
        if entailment is None:
            raise InferenceFailed(f"{self._nli.directory}: no entailment label in {self._nli.labels}")
        self._entailment = entailment
        self._negative = self._sentiment.label_index("neg") or 0
        self.model = self._nli.name
        self.model_version = f"{self._nli.short_sha}+{self._sentiment.short_sha}"

    def decide_many(self, texts: Sequence[str]) -> list[Decision]:
        """Return one decision per text, in order.

        Raises:
            InferenceFailed: ONNX Runtime failed.
        """
        if not texts:
            return []
        scores = self.category_scores(texts)
        p_negative = self.p_negative(texts)
        return [
            self._decision(text, row, float(p))
            for text, row, p in zip(texts, scores, p_negative, strict=True)
        ]

    def category_scores(self, texts: Sequence[str]) -> np.ndarray:
        """Return P(category) [n, categories]: softmax of entailment logits across categories."""
        pairs = [(text, hypothesis) for text in texts for hypothesis in self._hypotheses]
        logits = self._nli.logits(pairs)[:, self._entailment]
        return softmax(logits.reshape(len(texts), len(self._hypotheses)))

    def p_negative(self, texts: Sequence[str]) -> np.ndarray:
        """Return P(negative) [n] from the sentiment model."""
        return softmax(self._sentiment.logits(list(texts)))[:, self._negative]

    def _decision(self, text: str, scores: np.ndarray, p_negative: float) -> Decision:
        s, urgency = combine_urgency(p_negative, text)
        return Decision(
            category=self.names[int(np.argmax(scores))],
            scores={name: float(p) for name, p in zip(self.names, scores, strict=True)},
            urgency_score=s,
            urgency_label=urgency_label(s),
            explanation={
                "backend": "nli",
                "model": self.model,
                "model_version": self.model_version,
                "fallback": False,
                "fallback_reason": None,
                "urgency": urgency,
            },
        )


@dataclass(frozen=True)
class _Classifier:
    """One exported sequence-classification model with its tokenizer and labels."""

    directory: Path
    name: str
    short_sha: str
    labels: list[str]
    session: ort.InferenceSession
    tokenizer: Tokenizer

    @classmethod
    def load(cls, directory: Path, threads: int) -> _Classifier:
        model_file = next((name for name in MODEL_FILES if (directory / name).is_file()), MODEL_FILES[-1])
        for name in (model_file, TOKENIZER, CLASSIFIER_CONFIG, MANIFEST):
            if not (directory / name).is_file():
                raise InferenceFailed(
                    f"NLI backend model files missing: {directory / name} "
                    "(export it with scripts/export_onnx.py --task zero-shot|sentiment)"
                )
        manifest = Manifest.load(directory)
        sha = manifest.verify(model_file)
        manifest.verify(TOKENIZER)
        config = _read_json(directory / CLASSIFIER_CONFIG)
        try:
            session = ort.InferenceSession(
                str(directory / model_file), session_options(threads), providers=["CPUExecutionProvider"]
            )
            tokenizer = Tokenizer.from_file(str(directory / TOKENIZER))
        except Exception as ex:  # ORT raises its own untyped errors for bad files.
            raise InferenceFailed(f"cannot load {directory / model_file}: {ex}") from ex
        _configure(tokenizer, int(config.get("pad_token_id") or 0))
        source = manifest.data.get("source", {})
        return cls(
            directory, str(source.get("name") or directory.name), sha[:8], _labels(config), session, tokenizer
        )

    def label_index(self, fragment: str) -> int | None:
        """Return the index of the first label containing ``fragment`` (any case), or None."""
        return next((i for i, label in enumerate(self.labels) if fragment in label.lower()), None)

    def logits(self, inputs: list[str] | list[tuple[str, str]]) -> np.ndarray:
        """Return logits [n, labels] for texts or (premise, hypothesis) pairs, in batches.

        Raises:
            InferenceFailed: ONNX Runtime failed.
        """
        rows = [
            self._run(inputs[i : i + DEFAULT_BATCH_SEQUENCES])
            for i in range(0, len(inputs), DEFAULT_BATCH_SEQUENCES)
        ]
        return np.concatenate(rows).astype(np.float64)

    def _run(self, batch: list[Any]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(batch)
        available = {
            "input_ids": lambda: np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": lambda: np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": lambda: np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        try:
            feeds = {i.name: available[i.name]() for i in self.session.get_inputs()}
            outputs: list[np.ndarray] = self.session.run(None, feeds)
            return outputs[0]
        except Exception as ex:  # onnxruntime raises untyped errors (Fail, InvalidArgument...).
            raise InferenceFailed(f"{self.directory.name} model run failed: {ex}") from ex


def _configure(tokenizer: Tokenizer, pad_id: int) -> None:
    # Pad each batch to its longest sequence; truncate the premise (the ticket), never the hypothesis.
    tokenizer.enable_truncation(DEFAULT_MAX_LENGTH, strategy="only_first")
    tokenizer.enable_padding(pad_id=pad_id, pad_token=tokenizer.id_to_token(pad_id) or "[PAD]")


def _labels(config: dict[str, Any]) -> list[str]:
    id2label = config.get("id2label") or {}
    return [str(id2label[key]) for key in sorted(id2label, key=int)]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return document
    except (OSError, ValueError) as ex:
        raise InferenceFailed(f"cannot read {path}: {ex}") from ex
