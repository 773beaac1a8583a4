"""Sentence encoder: all-MiniLM-L6-v2 exported to ONNX, run by ONNX Runtime.

The graph does mean pooling and L2 normalisation, so ``encode`` returns unit
vectors and cosine similarity is a dot product. The manifest written by
``scripts/export_onnx.py`` is checked at load: a missing or changed model file
is an ``InferenceFailed`` with the file's name, never a silent wrong answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from mvr.errors import InferenceFailed
from mvr.inference.model_files import INT8_MODEL, MANIFEST, TOKENIZER

__all__ = ["DEFAULT_MAX_LENGTH", "INT8_MODEL", "Encoder", "Manifest", "file_sha256", "session_options"]


#: Tokens per text; longer texts are truncated (the model was trained on 256).
DEFAULT_MAX_LENGTH = 256
#: Model name of the default encoder, shown in explanations.
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2-int8"


@dataclass(frozen=True)
class Manifest:
    """What ``models_export/manifest.json`` says about the exported files."""

    path: Path
    data: dict[str, Any]

    @classmethod
    def load(cls, models_dir: Path) -> Manifest:
        """Read the manifest of ``models_dir``.

        Raises:
            InferenceFailed: The manifest is missing or not JSON.
        """
        path = Path(models_dir) / MANIFEST
        try:
            return cls(path, json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as ex:
            raise InferenceFailed(f"cannot read model manifest {path}: {ex}") from ex

    def sha256(self, name: str) -> str | None:
        """Return the recorded sha256 of file ``name``, or None if not listed."""
        files = self.data.get("files", {})
        if isinstance(files, list):
            files = {f.get("path", f.get("name")): f for f in files if isinstance(f, dict)}
        entry = files.get(name)
        if isinstance(entry, dict):
            return entry.get("sha256")
        return entry if isinstance(entry, str) else None

    def verify(self, name: str) -> str:
        """Check file ``name`` against the manifest and return its sha256.

        Raises:
            InferenceFailed: The file is missing, unlisted, or its sha256 differs.
        """
        path = self.path.parent / name
        if not path.is_file():
            raise InferenceFailed(f"model files missing: {path}")
        expected = self.sha256(name)
        if expected is None:
            raise InferenceFailed(f"{name} is not listed in {self.path}")
        actual = file_sha256(path)
        if actual != expected:
            raise InferenceFailed(f"sha256 mismatch for {path}: manifest {expected[:12]}, file {actual[:12]}")
        return actual

    def model_version(self, name: str) -> str:
        """Return ``<source version>+<short sha256>`` of file ``name``."""
        source = self.data.get("source", {})
        version = source.get("version", "unknown") if isinstance(source, dict) else "unknown"
        return f"{version}+{(self.sha256(name) or 'unknown')[:8]}"


class Encoder:
    """Text → unit-length sentence embeddings [n, d] by an ONNX model; thread-safe.

    Implements ``mvr.inference.encoders.TextEncoder``.
    """

    def __init__(
        self,
        model_path: Path,
        tokenizer_path: Path,
        *,
        threads: int = 0,
        max_length: int = DEFAULT_MAX_LENGTH,
        name: str = "minilm",
        model: str = DEFAULT_MODEL_NAME,
        model_version: str = "unknown",
    ) -> None:
        """Load the ONNX model and tokenizer.

        Args:
            model_path: The ONNX encoder (inputs ``input_ids``, ``attention_mask``).
            tokenizer_path: The ``tokenizer.json`` of the model.
            threads: ONNX Runtime intra-op threads; 0 lets ONNX Runtime choose.
            max_length: Tokens per text; longer texts are truncated.
            name: ``MVR_ENCODER`` name of this encoder.
            model: Model name shown in explanations.
            model_version: ``<source version>+<short sha256>``.

        Raises:
            InferenceFailed: A file is missing or cannot be loaded.
        """
        self.model_path = Path(model_path)
        self.max_length = max_length
        self.name = name
        self.model = model
        self.model_version = model_version
        try:
            self._session = ort.InferenceSession(
                str(model_path), session_options(threads), providers=["CPUExecutionProvider"]
            )
            self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
            self._counter = Tokenizer.from_file(str(tokenizer_path))
        except Exception as ex:  # ORT raises its own untyped errors for bad files.
            raise InferenceFailed(f"cannot load encoder {model_path}: {ex}") from ex
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length)
        self._counter.no_padding()
        self._counter.no_truncation()
        self._input_names = {i.name for i in self._session.get_inputs()}
        self.dimension = int(self._session.get_outputs()[0].shape[-1])

    @classmethod
    def from_dir(
        cls,
        models_dir: Path,
        *,
        model_file: str = INT8_MODEL,
        threads: int = 0,
        verify: bool = True,
        name: str = "minilm",
        model: str = DEFAULT_MODEL_NAME,
    ) -> Encoder:
        """Load ``model_file`` and the tokenizer from ``models_dir``, checked against the manifest.

        The token window is the manifest's ``max_length``.

        Raises:
            InferenceFailed: A file is missing, unlisted or changed.
        """
        models_dir = Path(models_dir)
        for file in (model_file, TOKENIZER, MANIFEST):
            if not (models_dir / file).is_file():
                raise InferenceFailed(f"model files missing: {models_dir / file}")
        manifest = Manifest.load(models_dir)
        if verify:
            for file in (model_file, TOKENIZER):
                manifest.verify(file)
        return cls(
            models_dir / model_file,
            models_dir / TOKENIZER,
            threads=threads,
            max_length=int(manifest.data.get("max_length", DEFAULT_MAX_LENGTH)),
            name=name,
            model=model,
            model_version=manifest.model_version(model_file),
        )

    @property
    def max_tokens(self) -> int:
        """Most tokens (special tokens included) read at once; the rest of a text is cut."""
        return self.max_length

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Return the number of tokens of each text, untruncated, special tokens included."""
        return [len(enc.ids) for enc in self._counter.encode_batch(list(texts))]

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Return the token ids of each text (truncated, unpadded)."""
        return [enc.ids for enc in self._tokenizer.encode_batch(list(texts))]

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        """Return the number of tokens of each text after truncation."""
        return [len(ids) for ids in self.tokenize(texts)]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return embeddings [n, dimension] for ``texts``, padded to the longest as one batch."""
        return self.features(texts)[:, : self.dimension]

    def features(self, texts: Sequence[str]) -> np.ndarray:
        """Return the model's features of ``texts`` as one batch (see ``embed_ids``)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.embed_ids(self.tokenize(texts))

    def embed_ids(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Run one batch of token-id lists, right-padded to the longest.

        Returns the model's outputs side by side: the sentence embedding in the first
        ``dimension`` columns, then any further output (MiniLM's ``layer_features``, which
        the sentiment head reads).

        Raises:
            InferenceFailed: ONNX Runtime failed.
        """
        width = max(len(row) for row in ids)
        input_ids = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        try:
            outputs: list[np.ndarray] = self._session.run(None, feeds)
            return outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=1)
        except Exception as ex:  # onnxruntime raises untyped errors (Fail, InvalidArgument...).
            raise InferenceFailed(f"encoder run failed: {ex}") from ex


def session_options(threads: int) -> ort.SessionOptions:
    """Return ONNX Runtime options: ``threads`` intra-op threads, full graph optimisation."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


def file_sha256(path: Path) -> str:
    """Return the hex sha256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
