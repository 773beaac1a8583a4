"""Train the priority head: P(high priority) from sentence embeddings of priority-labelled issues.

Usage (one command per encoder):
    .venv/bin/python scripts/train_urgency_head.py [--encoder minilm] [--sources /work/.mirror]
        [--data jira] [--out MODELS_DIR/priority_head.npz] [--dry-run]

``--data`` (comma-separated): ``jira`` = public Apache Jira issues of ACE and ActiveMQ-CPP
(``fetch github:Mainak431/Jira-scrapper-for-LLM``; Blocker/Critical are ``high``), ``tickets`` = the
Tobi Bueck rows of ``../shared/data/tickets_dev.csv`` with a priority (critical/high are ``high``).
The Apache projects ``bench_urgency.py`` measures on (Nutch, Kafka, Spark) are never used here.
A two-class softmax head (``high`` vs ``other``), classes balanced. Before the final fit on all rows
it prints a leave-one-group-out ROC AUC (group = Jira project, or tickets half by ``row_half``), so
no in-sample figure is reported. Deterministic: the same inputs give a byte-identical ``.npz``.
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
#: Priorities counted as high, in Jira and in the tickets.
HIGH = ("blocker", "critical", "high")
#: L2 penalty and Adam steps (chosen by the leave-one-group-out AUC on the training groups only).
L2 = 1e-2
STEPS = 300


def main() -> None:
    """Embed the issues, report the held-out-group AUCs, fit on all rows and save the head."""
    args = _parse()
    texts, high, groups = [], [], []
    for name in args.data.split(","):
        for text, is_high, group in _read(name, args.sources):
            texts.append(text)
            high.append(is_high)
            groups.append(group)
    embed, model_id, args.models_dir = ps.load_encoder(args.encoder, threads=args.threads)
    x = ps.embed_cached(embed, model_id, texts, args.cache)
    labels = ["high" if h else "other" for h in high]
    truth = np.array(high)
    group_of = np.array(groups)
    held_out = {}
    for group in sorted(set(groups)):
        train = group_of != group
        head = fit_softmax(x[train], [labels[i] for i in np.flatnonzero(train)], **_fit_options(args))
        held_out[group] = round(roc_auc(head.predict_proba(x[~train])[:, 0], truth[~train]), 4)
        print(
            f"held-out {group}: ROC AUC {held_out[group]:.4f} ({(~train).sum()} rows, "
            f"{truth[~train].sum()} high)"
        )
    if args.dry_run:
        return
    out = args.out or args.models_dir / "priority_head.npz"
    fit_softmax(x, labels, **_fit_options(args)).save(out)
    print(f"wrote {out}")
    if args.out is None:
        sources = {
            "jira": {p: ps.source_entry(src, [path]) for p, (src, path) in ps.JIRA_TRAIN.items()},
            "tickets": {
                "data": "../shared/data/tickets_dev.csv (Tobi Bueck rows)",
                "licence": "CC BY-NC 4.0",
            },
        }
        info = {
            "command": "python scripts/train_urgency_head.py " + " ".join(sys.argv[1:]),
            "classes": list(CLASSES),
            "high": list(HIGH),
            "rows": {group: groups.count(group) for group in sorted(set(groups))},
            "sources": {name: sources[name] for name in args.data.split(",")},
            "held_out_group_auc": held_out,
        }
        ps.record_head(args.models_dir, out.name, info)


def _read(name: str, sources: Path) -> list[tuple[str, bool, str]]:
    """(text, is high, group) rows of source ``name``."""
    if name == "jira":
        projects = ps.jira_issues(sources, ps.JIRA_TRAIN)
        return [(t, p.lower() in HIGH, project) for project, rows in projects.items() for t, p in rows]
    if name == "tickets":
        with open(ps.SHARED_DATA / "tickets_dev.csv", newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.DictReader(fh) if r.get("priority", "").strip()]
        return [
            (
                ticket_text(r["subject"], r["body"]),
                r["priority"].strip().lower() in HIGH,
                f"tickets-{row_half(r)}",
            )
            for r in rows
        ]
    raise SystemExit(f"unknown data source {name!r} (jira, tickets)")


def _fit_options(args: argparse.Namespace) -> dict[str, object]:
    return {"classes": CLASSES, "l2": args.l2, "steps": args.steps, "class_weight": "balanced"}


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--encoder", default="minilm", help="MVR_ENCODER to train for (its directory)")
    parser.add_argument("--sources", type=Path, default=ps.DEFAULT_SOURCES, help="directory of fetched repos")
    parser.add_argument("--data", default="jira", help="comma-separated: jira, tickets")
    parser.add_argument("--l2", type=float, default=L2)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--cache", type=Path, default=ps.DEFAULT_CACHE, help="embedding cache directory")
    parser.add_argument("--out", type=Path, default=None, help="default: MODELS_DIR/priority_head.npz")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads")
    parser.add_argument(
        "--dry-run", action="store_true", help="report the held-out-group AUCs, write nothing"
    )
    return parser.parse_args()


if __name__ == "__main__":
    main()
