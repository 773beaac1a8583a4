"""Train the priority head: P(high priority) from sentence embeddings of priority-labelled issues.

Usage (one command per encoder):
    .venv/bin/python scripts/train_urgency_head.py [--encoder minilm] [--sources /work/.mirror]
        [--data jira] [--out MODELS_DIR/priority_head.npz] [--dry-run]

``--data`` (comma-separated): ``jira`` = public Apache Jira issues of ACE and ActiveMQ-CPP
(``fetch github:Mainak431/Jira-scrapper-for-LLM``; Blocker/Critical are ``high``), ``fluid`` = the
Fluid Project's public Jira (``fetch github:fluid-project/jira-to-11ty``), ``apache`` = about 24,000
more Apache Jira issues of eight other projects (ActiveMQ, Hive, Storm, ZooKeeper, Ambari, Camel, Derby,
Wicket; ``public_sources.apache_issues``: fetch ``SPEAR-SE/LogInBugReportsEmpirical_Data``,
``luisarojas/bug-priority-prediction`` and ``prab0007al/jira_scraper``), ``tickets`` = the
Tobi Bueck rows of ``../shared/data/tickets_dev.csv`` with a priority (critical/high are ``high``).
The Apache projects ``bench_urgency.py`` measures on (Nutch, Kafka, Spark) are never used here, nor
Hadoop's (reserved for another evaluation). ``--features`` fits the head on the encoder's whole features
(``TextEncoder.features``: the sentence embedding, then inner-layer means) instead of the embedding alone.
A two-class softmax head (``high`` vs ``other``), classes balanced. Before the final fit on all rows
it prints a leave-one-group-out ROC AUC (group = Jira project, or tickets half by ``row_half``; with
``--hold-out source``, each ``--data`` source; groups without both classes are skipped), so no
in-sample figure is reported. Deterministic: the same inputs give a byte-identical ``.npz``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import public_sources as ps  # noqa: E402

from mvr.inference.encoder import Manifest  # noqa: E402
from mvr.inference.evaluation import roc_auc, row_half  # noqa: E402
from mvr.inference.linear import fit_softmax  # noqa: E402
from mvr.inference.model_files import PRIORITY_HEAD  # noqa: E402
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
    # Always the whole features (one embedding cache for both widths); the sentence embedding is
    # their leading ``dimension`` columns, bit for bit.
    embed, model_id, args.models_dir = ps.load_encoder(args.encoder, threads=args.threads, features=True)
    width = None if args.features else int(Manifest.load(args.models_dir).data["dimension"])
    features, high, groups, names = [], [], [], []
    for name in args.data.split(","):
        rows = _read(name, args.sources)
        texts = [text for text, _, _ in rows]
        features.append(ps.embed_cached(embed, model_id, texts, args.cache)[:, :width])
        high += [is_high for _, is_high, _ in rows]
        groups += [group for _, _, group in rows]
        names += [name] * len(rows)
    x = np.concatenate(features)
    labels = ["high" if h else "other" for h in high]
    truth = np.array(high)
    unit_of = np.array(names if args.hold_out == "source" else groups)
    units = sorted(set(unit_of.tolist()))
    held_out = {}
    for unit in units if len(units) > 1 else []:
        train = unit_of != unit
        if truth[~train].all() or not truth[~train].any():
            continue
        head = fit_softmax(x[train], [labels[i] for i in np.flatnonzero(train)], **_fit_options(args))
        held_out[unit] = round(roc_auc(head.predict_proba(x[~train])[:, 0], truth[~train]), 4)
        print(
            f"held-out {unit}: ROC AUC {held_out[unit]:.4f} ({(~train).sum()} rows, "
            f"{truth[~train].sum()} high)"
        )
    if args.dry_run:
        return
    out = args.out or args.models_dir / PRIORITY_HEAD
    fit_softmax(x, labels, **_fit_options(args)).save(out)
    print(f"wrote {out}")
    if args.out is None:
        sources = {
            "jira": {p: ps.source_entry(src, [path]) for p, (src, path) in ps.JIRA_TRAIN.items()},
            "fluid": ps.source_entry(ps.FLUID_JIRA, [ps.FLUID_ISSUES]),
            "apache": {
                "sources": [
                    ps.source_entry(ps.JIRA_SPEAR, [f"{f}/*.json" for f in ps.SPEAR_FOLDERS]),
                    ps.source_entry(ps.JIRA_HIGH_IMPACT, list(ps.HIGH_IMPACT_FILES.values())),
                    ps.source_entry(ps.JIRA_ZOOKEEPER_NEW, list(ps.ZOOKEEPER_PAGES)),
                ],
                "deduplicated": "by issue key, first source first",
                "never_read": sorted(ps.APACHE_EXCLUDED),
            },
            "tickets": {
                "data": "../shared/data/tickets_dev.csv (Tobi Bueck rows)",
                "licence": "CC BY-NC 4.0",
            },
        }
        info = {
            "command": "python scripts/train_urgency_head.py " + " ".join(sys.argv[1:]),
            "classes": list(CLASSES),
            "high": list(HIGH),
            "features": "encoder features" if args.features else "sentence embedding",
            "columns": int(x.shape[1]),
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
    if name == "apache":
        projects = ps.apache_issues(sources)
        return [(t, p.lower() in HIGH, project) for project, rows in projects.items() for t, p in rows]
    if name == "fluid":
        projects = ps.fluid_issues(sources)
        return [(t, p.lower() in HIGH, f"fluid-{key}") for key, rows in projects.items() for t, p in rows]
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
    raise SystemExit(f"unknown data source {name!r} (jira, apache, fluid, tickets)")


def _fit_options(args: argparse.Namespace) -> dict[str, object]:
    return {"classes": CLASSES, "l2": args.l2, "steps": args.steps, "class_weight": "balanced"}


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--encoder", default="minilm", help="MVR_ENCODER to train for (its directory)")
    parser.add_argument("--sources", type=Path, default=ps.DEFAULT_SOURCES, help="directory of fetched repos")
    parser.add_argument("--data", default="jira", help="comma-separated: jira, apache, fluid, tickets")
    parser.add_argument(
        "--features", action="store_true", help="fit on the encoder's whole features, not the embedding alone"
    )
    parser.add_argument(
        "--hold-out", choices=("group", "source"), default="group", help="left out: a project or a --data"
    )
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
