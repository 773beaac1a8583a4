"""Train the category head an encoder ships: billing vs technical, fitted on public non-English tickets.

Usage:
    .venv/bin/python scripts/train_category_head.py [--encoder e5-small] [--sources /work/.mirror]
        [--out MODELS_DIR/category_head.npz] [--dry-run]

Training data: the German tickets of Tobi Bueck's "Customer Support Tickets" in
``data/dataset-tickets-german_normalized.csv`` of ``kishorekumar1111/Ticket-Hackthon`` (bring it here
with ``fetch github:kishorekumar1111/Ticket-Hackthon``; CC BY-NC 4.0). That version of the data set has
its own queues; ``QUEUES`` maps them to billing and technical, the others are left out. Every row whose
text is also in one of the three files ``../shared/data``'s tickets were built from (dev and held-out
halves alike), in ``tickets_dev.csv`` or in ``tickets_multilingual_dev.csv`` is dropped, so the figures
below are on unseen rows. The head has the two classes ``billing`` and ``technical``: the engine
combines it with the prototypes (``CategoryModel``), and Legal stays with the prototypes.

Before saving, the script prints macro-F1 over billing/technical on ``tickets_multilingual_dev.csv``
(never trained on), overall and per language, for the prototypes, the head alone and the two
combined, then records the head's sources, licence and figures under ``heads`` in
``MODELS_DIR/manifest.json`` and rehashes it. Deterministic: the same inputs give a byte-identical
``.npz``.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import public_sources as ps  # noqa: E402

from mvr.categories import load_categories  # noqa: E402
from mvr.inference.category_model import CategoryModel  # noqa: E402
from mvr.inference.evaluation import classification_report, read_rows  # noqa: E402
from mvr.inference.linear import LinearHead, fit_softmax  # noqa: E402
from mvr.inference.model_files import CATEGORY_HEAD  # noqa: E402
from mvr.ticket import ticket_text  # noqa: E402

#: The file of TOBI_BUECK trained on (German only; not one of the files ../shared/data was built from).
TRAIN_FILE = "data/dataset-tickets-german_normalized.csv"
#: Queues of that file as categories (the rest, e.g. partner coordination or onboarding, are mixed).
QUEUES = {
    "Account & Billing Management": "billing",
    "Software Development": "technical",
    "Network Infrastructure": "technical",
    "Security Operations": "technical",
    "Release Management": "technical",
    "Data Analytics & Reporting": "technical",
}
CLASSES = ("billing", "technical")
#: L2 penalty and Adam steps (see benchmarks/RESULTS.md "Languages" for the levers tried).
L2 = 3e-3
STEPS = 300


def main() -> None:
    """Read and filter the tickets, embed them, fit the head, report dev figures, save and record it."""
    args = _parse()
    rows, dropped = training_rows(args.sources)
    print(f"{TRAIN_FILE}: {len(rows)} rows {dict(Counter(r['category'] for r in rows))}, {dropped} dropped")
    embed, model_id, args.models_dir = ps.load_encoder(args.encoder, threads=args.threads)
    every = ps.tobi_bueck_tickets(args.sources, TRAIN_FILE)
    x_every = ps.embed_cached(embed, model_id, [r["text"] for r in every], args.cache)
    by_text = {r["text"]: i for i, r in enumerate(every)}
    x = x_every[[by_text[r["text"]] for r in rows]]
    head = fit_softmax(
        x,
        [r["category"] for r in rows],
        classes=CLASSES,
        l2=args.l2,
        steps=args.steps,
        class_weight="balanced",
    )
    figures = dev_figures(head, embed, model_id, args.cache)
    for method, by_language in figures.items():
        print(f"{method:<16} " + "  ".join(f"{k} {v:.3f}" for k, v in by_language.items()))
    if args.dry_run:
        return
    out = args.out or args.models_dir / CATEGORY_HEAD
    head.save(out)
    print(f"wrote {out}")
    if args.out is None:
        info = {
            "command": "python scripts/train_category_head.py " + " ".join(sys.argv[1:]),
            "classes": list(CLASSES),
            "queues": QUEUES,
            "rows": dict(sorted(Counter(r["category"] for r in rows).items())),
            "sources": {"tobi_bueck_german": ps.source_entry(ps.TOBI_BUECK, [TRAIN_FILE])},
            "note": "fitted weights only; no ticket text is shipped. Combined with the prototypes "
            "for MVR's default categories only; Legal comes from the prototypes.",
            "tickets_multilingual_dev_macro_f1": figures,
        }
        ps.record_head(args.models_dir, out.name, info)


def training_rows(sources: Path) -> tuple[list[dict[str, str]], int]:
    """The rows of TRAIN_FILE in QUEUES as (text, category), minus every row of the evaluation sources.

    Returns:
        The rows kept, and how many mapped rows were dropped as evaluation text.
    """
    seen = {
        ps.same_text(r["text"]) for path in ps.TOBI_BUECK_SHARED for r in ps.tobi_bueck_tickets(sources, path)
    }
    for name in ("tickets_dev.csv", "tickets_multilingual_dev.csv"):
        if (ps.SHARED_DATA / name).is_file():
            seen |= {
                ps.same_text(ticket_text(r["subject"], r["body"])) for r in read_rows(ps.SHARED_DATA / name)
            }
    mapped = [
        {"text": r["text"], "category": QUEUES[r["queue"]]}
        for r in ps.tobi_bueck_tickets(sources, TRAIN_FILE)
        if r["queue"] in QUEUES
    ]
    kept = [r for r in mapped if ps.same_text(r["text"]) not in seen]
    return kept, len(mapped) - len(kept)


def dev_figures(
    head: LinearHead, embed: ps.Embed, model_id: str, cache: Path | None
) -> dict[str, dict[str, float]]:
    """Macro-F1 over billing/technical on tickets_multilingual_dev, overall and per language, per method."""
    rows = read_rows(ps.SHARED_DATA / "tickets_multilingual_dev.csv")
    x = ps.embed_cached(embed, model_id, [ticket_text(r["subject"], r["body"]) for r in rows], cache)
    categories = load_categories()
    models = {
        "prototypes": CategoryModel.build(categories, embed),
        "head": CategoryModel.build(categories, embed, head=head),
        "prototypes+head": CategoryModel.build(categories, embed, companion=head),
    }
    truth = [r["category"].strip().lower() for r in rows]
    languages = ["all", *sorted({r["language"] for r in rows})]
    figures = {}
    for method, model in models.items():
        predicted = [model.names[i].lower() for i in np.argmax(model.logits(x), axis=1)]
        figures[method] = {
            language: round(
                classification_report(
                    [t for t, r in zip(truth, rows, strict=True) if language in ("all", r["language"])],
                    [p for p, r in zip(predicted, rows, strict=True) if language in ("all", r["language"])],
                )["macro_f1"],
                4,
            )
            for language in languages
        }
    return figures


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--encoder", default="e5-small", help="MVR_ENCODER to train for (its directory)")
    parser.add_argument("--sources", type=Path, default=ps.DEFAULT_SOURCES, help="directory of fetched repos")
    parser.add_argument("--l2", type=float, default=L2)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--cache", type=Path, default=ps.DEFAULT_CACHE, help="embedding cache directory")
    parser.add_argument("--out", type=Path, default=None, help="default: MODELS_DIR/category_head.npz")
    parser.add_argument("--threads", type=int, default=0, help="encoder intra-op threads")
    parser.add_argument("--dry-run", action="store_true", help="report the dev figures, write nothing")
    return parser.parse_args()


if __name__ == "__main__":
    main()
