"""File names in ``models_export/``: what ``scripts/export_onnx.py`` writes is what the engine reads.

Both import these names, so they cannot drift apart (a renamed file would otherwise make the
engine fall back to the keyword baseline without a word at build time).
"""

from __future__ import annotations

__all__ = [
    "CATEGORY_HEAD",
    "CLASSIFIER_CONFIG",
    "CLASSIFIER_FP32",
    "CLASSIFIER_INT8",
    "FP32_MODEL",
    "INT8_MODEL",
    "MANIFEST",
    "PRIORITY_HEAD",
    "PRIORITY_WORDS",
    "SENTIMENT_HEAD",
    "TOKENIZER",
]

#: The sentence encoder, int8 (committed) and fp32 (built locally, too large for git).
INT8_MODEL = "encoder-int8.onnx"
FP32_MODEL = "encoder-fp32.onnx"
#: The tokenizer of an encoder or classifier directory.
TOKENIZER = "tokenizer.json"
#: Every model directory's list of files with their sha256, sources and licences.
MANIFEST = "manifest.json"
#: Linear heads on an encoder's embeddings: sentiment (required) and priority (optional).
SENTIMENT_HEAD = "sentiment_head.npz"
PRIORITY_HEAD = "priority_head.npz"
#: The priority head's optional words score (``mvr.inference.words``), added to its ``high`` logit.
PRIORITY_WORDS = "priority_words.npz"
#: An encoder's optional category head, combined with the prototypes for non-English tickets when
#: the categories are MVR's defaults, the ones it was fitted for. English text read by e5-small
#: routes worse with it (benchmarks/RESULTS.md "Languages").
CATEGORY_HEAD = "category_head.npz"
#: The NLI backend's classifiers: int8 (preferred) and fp32, and their Hugging Face config.
CLASSIFIER_INT8 = "model-int8.onnx"
CLASSIFIER_FP32 = "model.onnx"
CLASSIFIER_CONFIG = "config.json"
