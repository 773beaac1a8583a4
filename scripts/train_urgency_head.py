"""Train the priority head: P(high priority) from sentence embeddings of priority-labelled tickets.

Usage (one command per encoder):
    .venv/bin/python scripts/train_urgency_head.py [--models-dir models_export]
        [--data ../shared/data/tickets_dev.csv] [--out MODELS_DIR/priority_head.npz] [--dry-run]

Trains a two-class softmax head (``high`` = critical/high vs ``other``) on the rows of ``--data``
that carry a priority (the Tobi Bueck tickets, subject + body), classes balanced. Before the final
fit on all rows it prints a two-fold figure (fit on one half by ``row_half``, ROC AUC on the other),
so the in-sample figure is never the one reported. Deterministic: a byte-identical ``.npz``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import public_sources as ps  # noqa: E402

from mvr.inference.evaluation import roc_auc, row_half  # noqa: E402
from mvr.inference.linear import fit_softmax  # noqa: E402
from mvr.ticket import ticket_text  # noqa: E402

CLASSES = ("high", "other")
HIGH = ("critical", "high")
L2 = 1e-3
STEPS = 300


def main() -> None:
    """Embed the tickets, report the two-fold AUC, fit on all rows and save the head."""
    args = _parse()
    with open(args.data, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("priority", "").strip()]
    texts = [ticket_text(r.get("subject", ""), r.get("body", "")) for r in rows]
    labels = ["high" if r["priority"].strip().lower() in HIGH else "other" for r in rows]
    embed, model_id = ps.load_encoder(args.models_dir, threads=args.threads)
    x = ps.embed_cached(embed, model_id, texts, args.cache)
    halves = np.array([row_half(r) == "a" for r in rows])
    truth = np.array([label == "high" for label in labels])
    for name, train in (("a->b", halves), ("b->a", ~halves)):
        head = fit_softmax(x[train], [labels[i] for i in np.flatnonzero(train)], **_fit_options(args))
        auc = roc_auc(head.predict_proba(x[~train])[:, 0], truth[~train])
        print(f"two-fold ROC AUC {name}: {auc:.4f} ({(~train).sum()} rows)")
    if args.dry_run:
        return
    out = args.out or args.models_dir / "priority_head.npz"
    fit_softmax(x, labels, **_fit_options(args)).save(out)
    print(f"wrote {out}")


def _fit_options(args: argparse.Namespace) -> dict[str, object]:
    return {"classes": CLASSES, "l2": args.l2, "steps": args.steps, "class_weight": "balanced"}


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--models-dir", type=Path, default=ps.ROOT / "models_export", help="encoder to train on"
    )
    parser.add_argument("--data", type=Path, default=ps.SHARED_DATA / "tickets_dev.csv")
    parser.add_argument("--l2", type=float, default=L2)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--cache", type=Path, default=ps.DEFAULT_CACHE, help="embedding cache directory")
    parser.add_argument("--out", type=Path, default=None, help="default: MODELS_DIR/priority_head.npz")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads")
    parser.add_argument("--dry-run", action="store_true", help="report the two-fold AUC, write nothing")
    return parser.parse_args()


if __name__ == "__main__":
    main()
