"""Train a sentiment head: softmax regression on an encoder's embeddings of SST-2.

Usage:
    .venv/bin/python scripts/train_sentiment_head.py [--encoder minilm] [--data ../shared/data/sst2_train.csv]
        [--out models_export/sentiment_head.npz] [--limit N] [--no-rehash]

Each encoder (``MVR_ENCODER``) has its own head, ``sentiment_head.npz`` in the encoder's
directory (``models_export/`` for minilm, ``models_export/<encoder>/`` for the others).

Every SST-2 train row is used unless ``--limit`` takes a deterministic subsample
(rows whose SHA-256 falls first). 2% of the rows (by hash) are held out only to
print a sanity accuracy; the head is then refit on all rows. Afterwards
``scripts/export_onnx.py --rehash`` records the head's sha256 in that directory's manifest.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mvr.config import ENCODERS
from mvr.inference.encoders import SENTIMENT_HEAD, TextEncoder, encoder_dir, load_encoder
from mvr.inference.linear import fit_softmax

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models_export"
#: Text batch size for embedding (texts are sorted by length first).
BATCH = 64
#: Class names of the head, in SST-2 label order (0 negative, 1 positive).
CLASSES = ("negative", "positive")
#: L2 penalty and Adam steps, chosen on the 2% SST-2 check split.
L2 = 1e-4
STEPS = 400


def main() -> None:
    """Embed SST-2, fit the head, save it, and rehash the manifest."""
    args = _parse()
    sentences, labels = _read(args.data, args.limit)
    print(f"{len(sentences)} SST-2 rows", flush=True)
    encoder = load_encoder(args.encoder, MODELS, threads=args.threads)
    out = args.out or encoder_dir(MODELS, args.encoder) / SENTIMENT_HEAD
    started = time.perf_counter()
    features = _embed(encoder, sentences)
    print(f"embedded in {time.perf_counter() - started:.0f} s", flush=True)
    check = np.array([_hash(s) % 50 == 0 for s in sentences])
    head = fit_softmax(
        features[~check], [labels[i] for i in np.flatnonzero(~check)], classes=CLASSES, l2=L2, steps=STEPS
    )
    predicted = head.predict_proba(features[check]).argmax(axis=1)
    truth = np.array([CLASSES.index(labels[i]) for i in np.flatnonzero(check)])
    print(f"check accuracy on {check.sum()} held-back SST-2 rows: {np.mean(predicted == truth):.4f}")
    fit_softmax(features, labels, classes=CLASSES, l2=L2, steps=STEPS).save(out)
    print(f"wrote {out}")
    if not args.no_rehash:
        rehash = [
            sys.executable,
            str(ROOT / "scripts" / "export_onnx.py"),
            "--rehash",
            "--out",
            str(out.parent),
        ]
        subprocess.run(rehash, check=True)


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sst2_train.csv")
    parser.add_argument("--encoder", choices=ENCODERS, default="minilm", help="MVR_ENCODER to train for")
    parser.add_argument("--out", type=Path, help="default: the encoder's directory/sentiment_head.npz")
    parser.add_argument("--limit", type=int, default=None, help="deterministic subsample of N rows")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads")
    parser.add_argument("--no-rehash", action="store_true", help="do not update manifest.json")
    return parser.parse_args()


def _read(path: Path, limit: int | None) -> tuple[list[str], list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = [(r["sentence"].strip(), CLASSES[int(r["label"])]) for r in csv.DictReader(fh)]
    if limit is not None:
        rows = sorted(rows, key=lambda r: _hash(r[0]))[:limit]
    return [r[0] for r in rows], [r[1] for r in rows]


def _embed(encoder: TextEncoder, sentences: list[str]) -> np.ndarray:
    ids = encoder.tokenize(sentences)
    order = np.argsort([len(x) for x in ids], kind="stable")
    out = np.zeros((len(sentences), encoder.dimension), dtype=np.float32)
    for start in range(0, len(order), BATCH):
        chunk = order[start : start + BATCH]
        out[chunk] = encoder.embed_ids([ids[i] for i in chunk])
    return out


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


if __name__ == "__main__":
    main()
