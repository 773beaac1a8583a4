"""Routing quality on public tickets nobody here tuned to, for every backend and encoder.

Usage:
    .venv/bin/python benchmarks/bench_quality.py [--quick] [--json] [--encoder NAME ...]
        [--backend NAME ...] [--shared-data DIR] [--resamples N]

Sets (see benchmarks/quality/README.md for origins, licences and label mappings):

- the external benchmark: ``clinc150``, ``it_tickets``, ``policyqa`` and
  ``gitbugs_vscode`` (Billing / Technical / Legal), each alone and pooled as
  ``external``;
- the held-out group: ``rasa_finance`` (Billing), ``rasa_helpdesk`` (Technical)
  and ``unfair_tos`` (Legal), each alone and pooled as ``held_out``; nobody read them while writing category
  texts, so this is the independent figure. Only aggregate figures are reported
  for them (no confusion matrix, no misroutes, no texts);
- ``clinc150_domains``: seven CLINC150 domains routed zero-shot with the
  categories of ``benchmarks/quality/clinc150_domains.json`` (as
  ``MVR_CATEGORIES_FILE`` would), to measure custom categories;
- ``tickets_dev`` from ``--shared-data`` (default ``../shared/data`` beside the
  repository) as the internal reference, skipped with a note when absent;
- ``tickets_multilingual`` (``tickets_multilingual_dev.csv`` from ``--shared-data``:
  German, Spanish, French and Portuguese billing/technical tickets), pooled and
  per language (``tickets_multilingual[de]`` ...); a Legal answer is a miss.

``--set NAME`` (repeatable) scores only the named sets.

For each set: macro-F1 over the set's true classes, per-class precision/recall/F1,
and 95% percentile bootstrap intervals of macro-F1 and of each class's F1
(``--resamples`` resamples of the rows, fixed seed). Also, for the external sets
only, the most common confusions on the pooled set, the misroutes per source
label, and up to five misrouted texts per class.

Backends: ``embedding`` (once per encoder: ``--encoder`` repeatable, default the
one ``Settings`` names, when Settings has an encoder), ``baseline`` and ``nli``.
Each engine is built by ``Engine.from_settings`` from the environment's settings
with only the backend, encoder and categories file replaced (default categories for
the three-class sets, whatever ``MVR_CATEGORIES_FILE`` says); a backend whose
models are missing falls back to the baseline there, and is reported here as
skipped with the reason. Nothing is fitted on these sets. ``--quick`` scores a
seeded sample of 40 rows per set (under a minute).
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

from mvr.config import Settings  # noqa: E402
from mvr.inference.engine import Engine  # noqa: E402
from mvr.inference.evaluation import classification_report, read_rows  # noqa: E402
from mvr.ticket import ticket_text  # noqa: E402

QUALITY_DIR = c.BENCH_DIR / "quality"
#: The external benchmark's sets, each a CSV in QUALITY_DIR (columns subject, body, category, source).
EXTERNAL = ("clinc150", "it_tickets", "policyqa", "gitbugs_vscode")
#: The held-out group (same CSV layout): scored and pooled apart from EXTERNAL, aggregates only.
HELD_OUT = ("rasa_finance", "rasa_helpdesk", "unfair_tos")
#: The custom-taxonomy set and its categories file.
TAXONOMY = "clinc150_domains"
TAXONOMY_CATEGORIES = QUALITY_DIR / "clinc150_domains.json"
#: The non-English set (from --shared-data), scored pooled and per language.
MULTILINGUAL = "tickets_multilingual"
#: Default directory of tickets_dev.csv: ../shared/data beside the repository.
SHARED_DATA = c.ROOT.parent / "shared" / "data"
#: Seed of the bootstrap, the quick-mode samples and the misrouted examples.
SEED = 12
#: Rows per set in --quick.
QUICK_ROWS = 40
#: Texts per engine call (small enough for e5-small on a loaded box to answer inside the
#: micro-batcher's 60 s wait: 64 timed out there and fell back to the baseline).
CHUNK = 16
#: Misrouted examples kept per true class, and their length in characters.
EXAMPLES, EXAMPLE_CHARS = 5, 160


# --- metrics ----------------------------------------------------------------------------------------------


def bootstrap_f1(
    truth: Sequence[str], predicted: Sequence[str], resamples: int, seed: int = SEED
) -> dict[str, Any]:
    """95% percentile bootstrap intervals of macro-F1 and of each true class's F1.

    Rows are resampled with replacement ``resamples`` times. A class absent from a
    resample is left out of that resample's macro mean.
    """
    labels = sorted(set(truth) | set(predicted))
    classes = sorted(set(truth))
    index = {label: i for i, label in enumerate(labels)}
    k, n = len(labels), len(truth)
    t = np.array([index[x] for x in truth])
    p = np.array([index[x] for x in predicted])
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    codes = t[draws] * k + p[draws] + (np.arange(resamples) * k * k)[:, None]
    confusion = np.bincount(codes.ravel(), minlength=resamples * k * k).reshape(resamples, k, k)
    tp = np.diagonal(confusion, axis1=1, axis2=2).astype(float)
    actual, called = confusion.sum(axis=2), confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(actual > 0, 2 * tp / (actual + called), np.nan)
    columns = [index[x] for x in classes]
    macro = np.nanmean(f1[:, columns], axis=1)
    return {
        "macro_f1": _interval(macro),
        "per_class": {x: _interval(f1[:, index[x]]) for x in classes},
    }


def _interval(values: np.ndarray) -> list[float]:
    lo, hi = np.nanpercentile(values, [2.5, 97.5])
    return [round(float(lo), 4), round(float(hi), 4)]


def score(truth: Sequence[str], predicted: Sequence[str], resamples: int) -> dict[str, Any]:
    """Point figures (``classification_report``) with bootstrap intervals, rounded for printing."""
    report = classification_report(truth, predicted)
    intervals = bootstrap_f1(truth, predicted, resamples)
    per_class = {
        label: {
            **{key: round(value, 4) for key, value in report["per_class"][label].items() if key != "support"},
            "f1_ci": intervals["per_class"][label],
            "support": report["per_class"][label]["support"],
        }
        for label in sorted(set(truth))
    }
    return {
        "rows": report["rows"],
        "accuracy": round(report["accuracy"], 4),
        "macro_f1": round(report["macro_f1"], 4),
        "macro_f1_ci": intervals["macro_f1"],
        "per_class": per_class,
        "labels": report["labels"],
        "confusion": report["confusion"],
    }


def aggregates_only(figures: dict[str, Any]) -> dict[str, Any]:
    """``figures`` without the confusion matrix: held-out sets report aggregates only."""
    return {key: value for key, value in figures.items() if key not in ("labels", "confusion")}


def confusions(rows: Sequence[dict[str, str]], predicted: Sequence[str]) -> list[dict[str, Any]]:
    """Misroutes counted by (true, predicted) pair, most common first."""
    pairs = Counter((_truth(r), p) for r, p in zip(rows, predicted, strict=True) if _truth(r) != p)
    return [{"true": t, "predicted": p, "rows": n} for (t, p), n in pairs.most_common()]


def misroutes_by_source_label(
    rows: Sequence[dict[str, str]], predicted: Sequence[str]
) -> list[dict[str, Any]]:
    """Misroutes counted by (source, source label, predicted), most common first."""
    keys = Counter(
        (r.get("source", ""), r.get("source_label", ""), p)
        for r, p in zip(rows, predicted, strict=True)
        if _truth(r) != p
    )
    return [
        {"source": s, "source_label": label, "predicted": p, "rows": n}
        for (s, label, p), n in keys.most_common()
    ]


def misrouted_examples(
    rows: Sequence[dict[str, str]], predicted: Sequence[str]
) -> dict[str, list[dict[str, str]]]:
    """Up to ``EXAMPLES`` misrouted rows per true class (a seeded sample), texts cut short."""
    wrong: dict[str, list[dict[str, str]]] = {}
    for r, p in zip(rows, predicted, strict=True):
        if _truth(r) != p:
            text = ticket_text(r.get("subject", ""), r.get("body", "")).replace("\n", " | ")
            wrong.setdefault(_truth(r), []).append(
                {"source": r["source"], "predicted": p, "text": text[:EXAMPLE_CHARS]}
            )
    rng = random.Random(SEED)
    return {label: rng.sample(items, min(EXAMPLES, len(items))) for label, items in sorted(wrong.items())}


def _truth(row: dict[str, str]) -> str:
    return row["category"].strip().lower()


# --- sets and engines -------------------------------------------------------------------------------------


def load_sets(
    shared_data: Path, quick: bool, only: Sequence[str] = ()
) -> tuple[dict[str, list[dict[str, str]]], dict[str, str]]:
    """Rows of every set (or of ``only``; a seeded sample of ``QUICK_ROWS`` each in quick mode) and notes
    on skipped ones."""
    paths = {name: QUALITY_DIR / f"{name}.csv" for name in (*EXTERNAL, *HELD_OUT, TAXONOMY)}
    paths["tickets_dev"] = shared_data / "tickets_dev.csv"
    paths[MULTILINGUAL] = shared_data / "tickets_multilingual_dev.csv"
    sets, notes = {}, {}
    for name, path in paths.items():
        if only and name not in only:
            continue
        if not path.is_file():
            notes[name] = f"{path} absent"
            continue
        rows = read_rows(path)
        if quick:
            rows = random.Random(SEED).sample(rows, min(QUICK_ROWS, len(rows)))
        sets[name] = rows
    return sets, notes


def configurations(
    base: Settings, backends: Sequence[str], encoders: Sequence[str]
) -> list[tuple[str, Settings]]:
    """(name, settings) of every backend to measure: ``embedding`` once per encoder."""
    configs = []
    for backend in backends:
        if backend == "embedding" and encoders:
            for encoder in encoders:
                settings = dataclasses.replace(base, backend=backend, **{"encoder": encoder})  # type: ignore[arg-type]
                configs.append((f"embedding[{encoder}]", settings))
        else:
            configs.append((backend, dataclasses.replace(base, backend=backend)))
    # The three-class sets are labelled with the default categories, whatever MVR_CATEGORIES_FILE says.
    return [(name, dataclasses.replace(settings, categories_file=None)) for name, settings in configs]


def encoder_names(base: Settings, requested: Sequence[str]) -> list[str]:
    """Encoders to measure: the ``--encoder`` values, else the one Settings names (none if it has none)."""
    has_encoder = any(f.name == "encoder" for f in dataclasses.fields(base))
    if requested and not has_encoder:
        raise SystemExit("--encoder needs a Settings with an encoder field (MVR_ENCODER); this MVR has none")
    if requested:
        return list(requested)
    return [str(base.encoder)] if has_encoder else []  # type: ignore[attr-defined]


def predict(engine: Engine, rows: Sequence[dict[str, str]]) -> tuple[list[str], int]:
    """Predicted category (lower case) of every row, and how many decisions were baseline fallbacks."""
    texts = [ticket_text(r.get("subject", ""), r.get("body", "")) for r in rows]
    decisions = []
    for start in range(0, len(texts), CHUNK):
        decisions.extend(engine.decide_many(texts[start : start + CHUNK]))
    fallbacks = sum(1 for d in decisions if d.explanation.get("fallback"))
    return [d.category.lower() for d in decisions], fallbacks


def measure(
    name: str, settings: Settings, sets: dict[str, list[dict[str, str]]], resamples: int
) -> dict[str, Any]:
    """Every figure of one backend configuration (or why it was skipped)."""
    c.log(f"{name}: loading")
    engine = Engine.from_settings(settings)
    if settings.backend != "baseline" and engine.fallback_reason is not None:
        engine.close()
        return {"name": name, "backend": settings.backend, "skipped": engine.fallback_reason}
    result: dict[str, Any] = {"name": name, "backend": settings.backend, "sets": {}, "fallback_decisions": 0}
    result["category_method"] = getattr(engine.backend, "category_method", None)
    pooled_rows: list[dict[str, str]] = []
    pooled_predicted: list[str] = []
    held_truth: list[str] = []
    held_predicted: list[str] = []
    try:
        for set_name in (n for n in (*EXTERNAL, *HELD_OUT, "tickets_dev", MULTILINGUAL) if n in sets):
            rows = sets[set_name]
            predicted, fallbacks = predict(engine, rows)
            result["fallback_decisions"] += fallbacks
            result["sets"][set_name] = score([_truth(r) for r in rows], predicted, resamples)
            c.log(f"{name}: {set_name} macro-F1 {result['sets'][set_name]['macro_f1']}")
            if set_name == MULTILINGUAL:
                result["sets"].update(per_language(rows, predicted, resamples))
            if set_name in EXTERNAL:
                pooled_rows += rows
                pooled_predicted += predicted
            elif set_name in HELD_OUT:
                result["sets"][set_name] = aggregates_only(result["sets"][set_name])
                held_truth += [_truth(r) for r in rows]
                held_predicted += predicted
    finally:
        engine.close()
    if pooled_rows:
        result["sets"]["external"] = score([_truth(r) for r in pooled_rows], pooled_predicted, resamples)
    if held_truth:
        result["sets"]["held_out"] = aggregates_only(score(held_truth, held_predicted, resamples))
    result["confusions"] = confusions(pooled_rows, pooled_predicted)
    result["misroutes_by_source_label"] = misroutes_by_source_label(pooled_rows, pooled_predicted)
    result["misrouted_examples"] = misrouted_examples(pooled_rows, pooled_predicted)
    if TAXONOMY in sets:
        engine = Engine.from_settings(dataclasses.replace(settings, categories_file=TAXONOMY_CATEGORIES))
        try:
            rows = sets[TAXONOMY]
            predicted, fallbacks = predict(engine, rows)
        finally:
            engine.close()
        result["fallback_decisions"] += fallbacks
        result["sets"][TAXONOMY] = score([_truth(r) for r in rows], predicted, resamples)
    return result


def per_language(
    rows: Sequence[dict[str, str]], predicted: Sequence[str], resamples: int
) -> dict[str, dict[str, Any]]:
    """Figures of the multilingual set per ``language`` column, as ``tickets_multilingual[xx]``."""
    figures = {}
    for language in sorted({r["language"] for r in rows}):
        pairs = [(_truth(r), p) for r, p in zip(rows, predicted, strict=True) if r["language"] == language]
        figures[f"{MULTILINGUAL}[{language}]"] = score(
            [t for t, _ in pairs], [p for _, p in pairs], resamples
        )
    return figures


def describe_sets(sets: dict[str, list[dict[str, str]]]) -> dict[str, Any]:
    """Rows per class and per source of every set."""
    return {
        name: {
            "rows": len(rows),
            "classes": dict(sorted(Counter(_truth(r) for r in rows).items())),
            "sources": dict(sorted(Counter(r.get("source", "") for r in rows).items())),
        }
        for name, rows in sets.items()
    }


def run(args: Any) -> dict[str, Any]:
    base = Settings.from_env()
    sets, notes = load_sets(args.shared_data, args.quick, args.set)
    external = [r for name in EXTERNAL if name in sets for r in sets[name]]
    held_out = [r for name in HELD_OUT if name in sets for r in sets[name]]
    described = describe_sets({**sets, "external": external, **({"held_out": held_out} if held_out else {})})
    configs = configurations(base, args.backend, encoder_names(base, args.encoder))
    return {
        "benchmark": "quality",
        "quick": args.quick,
        "machine": c.machine_info(),
        "resamples": args.resamples,
        "seed": SEED,
        "sets": described,
        "skipped_sets": notes,
        "results": [measure(name, settings, sets, args.resamples) for name, settings in configs],
    }


# --- output -----------------------------------------------------------------------------------------------


def render(result: dict[str, Any]) -> str:
    """Tables of macro-F1 [95% CI] and per-class F1 per set, one block per backend."""
    lines = [f"Routing quality (bootstrap: {result['resamples']} resamples, seed {result['seed']})"]
    lines += [f"  set {name}: {info['rows']} rows {info['classes']}" for name, info in result["sets"].items()]
    lines += [f"  skipped set {name}: {why}" for name, why in result["skipped_sets"].items()]
    for entry in result["results"]:
        lines.append("")
        if "skipped" in entry:
            lines.append(f"{entry['name']}: skipped ({entry['skipped']})")
            continue
        lines.append(f"{entry['name']} (categories: {entry['category_method'] or 'keywords'})")
        for set_name, figures in entry["sets"].items():
            lo, hi = figures["macro_f1_ci"]
            classes = ", ".join(
                f"{label} {m['f1']:.3f} [{m['f1_ci'][0]:.3f}-{m['f1_ci'][1]:.3f}]"
                for label, m in figures["per_class"].items()
            )
            lines.append(
                f"  {set_name:<17} n={figures['rows']:<5} acc {figures['accuracy']:.3f}  "
                f"macro-F1 {figures['macro_f1']:.3f} [{lo:.3f}-{hi:.3f}]  {classes}"
            )
        top = ", ".join(f"{x['true']}->{x['predicted']} {x['rows']}" for x in entry["confusions"][:4])
        lines.append(f"  most common confusions (external): {top or 'none'}")
    lines.append("")
    lines.append(c.machine_text(result["machine"]))
    return "\n".join(lines)


def main() -> None:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--encoder", action="append", default=[], help="encoder for the embedding backend (repeatable)"
        )
        parser.add_argument(
            "--backend",
            action="append",
            choices=("embedding", "baseline", "nli"),
            help="backend to measure (repeatable; default all three)",
        )
        parser.add_argument(
            "--shared-data", type=Path, default=SHARED_DATA, help="directory holding tickets_dev.csv"
        )
        parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (at least 1000)")
        parser.add_argument("--set", action="append", default=[], help="score only this set (repeatable)")

    args = c.parse_args("MVR routing quality on the external benchmark.", extra)
    args.backend = args.backend or ["embedding", "baseline", "nli"]
    if args.resamples < 1000:
        raise SystemExit("--resamples must be at least 1000")
    c.emit(run(args), args.json, render)


if __name__ == "__main__":
    main()
