"""Train the priority head: P(high priority) from sentence embeddings of priority-labelled issues.

Usage (one command per encoder):
    .venv/bin/python scripts/train_urgency_head.py [--encoder minilm] [--sources /work/.mirror]
        [--data jira] [--features] [--words-weight 1.5] [--out MODELS_DIR/priority_head.npz] [--dry-run]

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
A two-class softmax head (``high`` vs ``other``), classes balanced. With ``--words-weight`` above 0
(the default), a second two-class softmax on the issues' hashed TF-IDF words (``mvr.inference.words``)
is fitted too, and ``--words-weight`` times its ``high`` - ``other`` logit is written as the words score
``priority_words.npz`` beside the head, which adds it to its ``high`` logit. Before the final fit on all
rows it prints a leave-one-group-out ROC AUC of P(high) (group = Jira project, or tickets half by
``row_half``; with ``--hold-out source``, each ``--data`` source; groups without both classes are
skipped; idf and both fits on the other groups only), so no in-sample figure is reported, and the mean
per-group AUC of S on a grid of its two weights (out-of-fold P(high), the encoder's sentiment head, the
cues) from which ``mvr.inference.urgency``'s weights are chosen. Deterministic: the same inputs give
byte-identical ``.npz`` files.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

sys.path.insert(0, str(Path(__file__).resolve().parent))

import public_sources as ps  # noqa: E402

from mvr.inference.cues import cue_score, match_cues  # noqa: E402
from mvr.inference.encoder import Manifest  # noqa: E402
from mvr.inference.evaluation import roc_auc, row_half  # noqa: E402
from mvr.inference.linear import LinearHead, fit_softmax  # noqa: E402
from mvr.inference.model_files import PRIORITY_HEAD, PRIORITY_WORDS, SENTIMENT_HEAD  # noqa: E402
from mvr.inference.urgency import PriorityHead, SentimentHead, independent_evidence  # noqa: E402
from mvr.inference.words import WordsScore, inverse_document_frequency, tfidf_rows  # noqa: E402
from mvr.ticket import ticket_text  # noqa: E402

CLASSES = ("high", "other")
#: Priorities counted as high, in Jira and in the tickets.
HIGH = ("blocker", "critical", "high")
#: L2 penalty and Adam steps (chosen by the leave-one-group-out AUC on the training groups only).
L2 = 1e-2
STEPS = 300
#: The words fit: hashed columns and L2 penalty (same choice; benchmarks/RESULTS.md "Words in the
#: priority head"), and the default weight of its logit against the head's.
WORDS_BUCKETS = 2**14
WORDS_L2 = 1e-3
WORDS_WEIGHT = 1.5
#: The weights of S tried on the out-of-fold P(high): sentiment weight x priority weight.
WEIGHT_GRID = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def main() -> None:
    """Embed the issues, report the held-out-group AUCs, fit on all rows, save head and words score."""
    args = _parse()
    # Always the whole features (one embedding cache for both widths); the sentence embedding is
    # their leading ``dimension`` columns, bit for bit.
    embed, model_id, args.models_dir = ps.load_encoder(args.encoder, threads=args.threads, features=True)
    width = None if args.features else int(Manifest.load(args.models_dir).data["dimension"])
    features, texts, high, groups, names = [], [], [], [], []
    for name in args.data.split(","):
        rows = _read(name, args.sources)
        texts += [text for text, _, _ in rows]
        features.append(ps.embed_cached(embed, model_id, [text for text, _, _ in rows], args.cache))
        high += [is_high for _, is_high, _ in rows]
        groups += [group for _, _, group in rows]
        names += [name] * len(rows)
    x = np.concatenate(features)
    labels = ["high" if h else "other" for h in high]
    truth = np.array(high)
    unit_of = np.array(names if args.hold_out == "source" else groups)
    units = sorted(set(unit_of.tolist()))
    held_out, out_of_fold = {}, np.full(len(texts), np.nan)
    for unit in units if len(units) > 1 else []:
        train = unit_of != unit
        if truth[~train].all() or not truth[~train].any():
            continue
        fold = np.flatnonzero(train)
        head, words = _fit(x[fold, :width], [texts[i] for i in fold], [labels[i] for i in fold], args)
        test_texts = [texts[i] for i in np.flatnonzero(~train)]
        out_of_fold[~train] = PriorityHead(head, words).p_high(x[~train], test_texts)
        held_out[unit] = round(roc_auc(out_of_fold[~train], truth[~train]), 4)
        print(
            f"held-out {unit}: ROC AUC {held_out[unit]:.4f} ({(~train).sum()} rows, "
            f"{truth[~train].sum()} high)"
        )
    if held_out:
        print(f"mean held-out ROC AUC of P(high): {np.mean(list(held_out.values())):.4f}")
        _print_weight_grid(args.models_dir, x, texts, truth, unit_of, out_of_fold)
    if args.dry_run:
        return
    out = args.out or args.models_dir / PRIORITY_HEAD
    head, words = _fit(x[:, :width], texts, labels, args)
    head.save(out)
    print(f"wrote {out}")
    if words is not None:
        words.save(out.parent / PRIORITY_WORDS)
        print(f"wrote {out.parent / PRIORITY_WORDS}")
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
            "columns": int(x[:, :width].shape[1]),
            "words": None if words is None else _words_info(args.words_weight),
            "rows": {group: groups.count(group) for group in sorted(set(groups))},
            "sources": {name: sources[name] for name in args.data.split(",")},
            "held_out_group_auc": held_out,
        }
        ps.record_head(args.models_dir, out.name, info)


def _fit(
    x: np.ndarray, texts: list[str], labels: list[str], args: argparse.Namespace
) -> tuple[LinearHead, WordsScore | None]:
    """Fit the head on features ``x`` and, with a words weight, the words score on ``texts``."""
    head = _fit_balanced(x, labels, args.l2, args.steps)
    if args.words_weight <= 0:
        return head, None
    idf = inverse_document_frequency(texts, WORDS_BUCKETS)
    indptr, indices, data = tfidf_rows(texts, idf)
    words_x = sparse.csr_matrix((data, indices, indptr), shape=(len(texts), WORDS_BUCKETS))
    words = _fit_balanced(words_x, labels, WORDS_L2, args.steps)
    return head, _high_score(words, idf, args.words_weight)


def _fit_balanced(x: Any, labels: list[str], l2: float, steps: int) -> LinearHead:
    """A ``high`` / ``other`` softmax on ``x`` (dense or scipy sparse), classes balanced."""
    return fit_softmax(x, labels, classes=CLASSES, l2=l2, steps=steps, class_weight="balanced")


def _high_score(words: LinearHead, idf: np.ndarray, weight: float) -> WordsScore:
    """``weight`` times the words head's ``high`` - ``other`` logit, as a words score."""
    high, other = (words.classes.index(name) for name in CLASSES)
    return WordsScore(
        idf=idf,
        weights=(weight * (words.weights[:, high] - words.weights[:, other])).astype(np.float32),
        bias=float(weight * (words.bias[high] - words.bias[other])),
    )


def _words_info(weight: float) -> dict[str, object]:
    return {"file": PRIORITY_WORDS, "buckets": WORDS_BUCKETS, "l2": WORDS_L2, "weight": weight}


def _print_weight_grid(
    models_dir: Path,
    x: np.ndarray,
    texts: list[str],
    truth: np.ndarray,
    unit_of: np.ndarray,
    p_high: np.ndarray,
) -> None:
    """Print the mean per-group ROC AUC of S for each pair of weights, best first."""
    scored = ~np.isnan(p_high)
    p_negative = SentimentHead.load(models_dir / SENTIMENT_HEAD).p_negative(x[scored])
    cues = np.array([cue_score(match_cues(t)) for t, keep in zip(texts, scored, strict=True) if keep])
    units, truth = unit_of[scored], truth[scored]
    table = []
    for sentiment_weight in WEIGHT_GRID:
        for priority_weight in WEIGHT_GRID:
            s = independent_evidence(p_negative, p_high[scored], cues, sentiment_weight, priority_weight)
            aucs = [roc_auc(s[units == u], truth[units == u]) for u in sorted(set(units.tolist()))]
            table.append((float(np.mean(aucs)), roc_auc(s, truth), sentiment_weight, priority_weight))
    print("sentiment weight / priority weight: mean per-group ROC AUC of S (out of fold), pooled")
    for mean_auc, pooled, sentiment_weight, priority_weight in sorted(table, reverse=True)[:8]:
        print(f"  {sentiment_weight:.1f} / {priority_weight:.1f}: {mean_auc:.4f}, {pooled:.4f}")


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
    parser.add_argument(
        "--words-weight",
        type=float,
        default=WORDS_WEIGHT,
        help="weight of the words score; 0: no words score",
    )
    parser.add_argument("--cache", type=Path, default=ps.DEFAULT_CACHE, help="embedding cache directory")
    parser.add_argument("--out", type=Path, default=None, help="default: MODELS_DIR/priority_head.npz")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads")
    parser.add_argument(
        "--dry-run", action="store_true", help="report the held-out-group AUCs, write nothing"
    )
    return parser.parse_args()


if __name__ == "__main__":
    main()
