"""Encoders side by side: routing and sentiment quality, speed and memory of the engine per encoder.

Usage:
    .venv/bin/python benchmarks/bench_encoders.py [--encoder NAME ...] [--sample N] [--json]
        [--shared-data DIR]

For each encoder (``MVR_ENCODER``; default all of them), a fresh process builds the
engine exactly as a worker does (``Engine.from_settings``, embedding backend,
default categories, prototypes) and measures:

- macro-F1 of zero-shot routing on ``tickets_dev.csv`` (Billing/Technical/Legal);
- macro-F1 over billing/technical on ``tickets_multilingual_dev.csv``, overall and
  per language (a Legal answer counts as a miss);
- ROC AUC of P(negative) for negative vs the rest on ``airline_sentiment_dev.csv``
  (never trained on);
- tickets/s of ``decide_many`` in batches of 32 over the routed tickets, and the
  process's peak RSS (``ru_maxrss``) after loading and after everything.

``--sample N`` scores a seeded sample of at most N rows of each file (0: every row).
An encoder whose files are missing (``mpnet`` is built locally, see README) is
reported as skipped with the engine's reason. Nothing is fitted here.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

from mvr.config import ENCODERS, Settings  # noqa: E402
from mvr.inference.engine import Engine  # noqa: E402
from mvr.inference.evaluation import classification_report, read_rows, roc_auc  # noqa: E402
from mvr.ticket import ticket_text  # noqa: E402

#: Rows of each file scored by default (seeded sample); 0 scores every row.
DEFAULT_SAMPLE = 600
#: Texts per ``decide_many`` call.
BATCH = 32


def main() -> None:
    """Measure each encoder in its own process and print a table or one JSON object."""
    parser = argparse.ArgumentParser(description="MVR encoders side by side")
    parser.add_argument("--encoder", action="append", choices=ENCODERS, help="repeatable; default all")
    parser.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, help="rows per file (0: all)")
    parser.add_argument("--shared-data", type=Path, default=c.ROOT.parent / "shared" / "data")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--one", choices=ENCODERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.shared_data, args.sample)))
        return
    report = {
        "sample": args.sample,
        "machine": c.machine_text(c.machine_info()),
        "encoders": {name: _in_subprocess(name, args) for name in args.encoder or ENCODERS},
    }
    print(json.dumps(report, indent=2) if args.json else _table(report))


def _in_subprocess(name: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--one", name, "--sample", str(args.sample)]
    done = subprocess.run(
        [*command, "--shared-data", str(args.shared_data)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return {"skipped": f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}"}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def measure(name: str, data: Path, sample: int) -> dict[str, Any]:
    """Build the engine with encoder ``name`` and score every file (this process only)."""
    started = time.perf_counter()
    engine = Engine.from_settings(Settings(encoder=name))
    if engine.fallback_reason is not None:
        return {"skipped": engine.fallback_reason}
    result: dict[str, Any] = {
        "load_s": round(time.perf_counter() - started, 2),
        "rss_after_load_mb": _peak_rss_mb(),
        "model": engine.decide("hello").explanation["model"],
    }
    tickets = _sample(read_rows(data / "tickets_dev.csv"), sample)
    texts = [ticket_text(r["subject"], r["body"]) for r in tickets]
    started = time.perf_counter()
    predicted = _categories(engine, texts)
    result["tickets_per_s"] = round(len(texts) / (time.perf_counter() - started), 2)
    result["tickets_dev"] = _f1(tickets, predicted)
    multi = _sample(read_rows(data / "tickets_multilingual_dev.csv"), sample)
    predicted = _categories(engine, [ticket_text(r["subject"], r["body"]) for r in multi])
    result["multilingual"] = {"all": _f1(multi, predicted)}
    for language in sorted({r["language"] for r in multi}):
        rows = [(r, p) for r, p in zip(multi, predicted, strict=True) if r["language"] == language]
        result["multilingual"][language] = _f1([r for r, _ in rows], [p for _, p in rows])
    tweets = _sample(read_rows(data / "airline_sentiment_dev.csv"), sample)
    negative = [_negative(engine, tweets[i : i + BATCH]) for i in range(0, len(tweets), BATCH)]
    scores = [s for batch in negative for s in batch]
    positives = [r["sentiment"].strip().lower() == "negative" for r in tweets]
    result["airline_sentiment_auc"] = {"rows": len(tweets), "auc": round(roc_auc(scores, positives), 4)}
    result["peak_rss_mb"] = _peak_rss_mb()
    engine.close()
    return result


def _sample(rows: list[dict[str, str]], size: int) -> list[dict[str, str]]:
    return rows if size <= 0 or size >= len(rows) else random.Random(12).sample(rows, size)


def _categories(engine: Engine, texts: list[str]) -> list[str]:
    return [
        d.category.lower()
        for i in range(0, len(texts), BATCH)
        for d in engine.decide_many(texts[i : i + BATCH])
    ]


def _negative(engine: Engine, rows: list[dict[str, str]]) -> list[float]:
    return [
        d.explanation["urgency"]["sentiment_negative"] for d in engine.decide_many([r["text"] for r in rows])
    ]


def _f1(rows: list[dict[str, str]], predicted: list[str]) -> dict[str, Any]:
    """Macro-F1 over the rows' true classes (any other answer, e.g. Legal, is a miss)."""
    truth = [r["category"].strip().lower() for r in rows]
    report = classification_report(truth, predicted)
    return {
        "rows": len(rows),
        "macro_f1": round(report["macro_f1"], 4),
        "f1": {n: round(report["per_class"][n]["f1"], 4) for n in sorted(set(truth))},
    }


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _table(report: dict[str, Any]) -> str:
    lines = [f"sample {report['sample']} rows per file; {report['machine']}"]
    for name, r in report["encoders"].items():
        if "skipped" in r:
            lines.append(f"{name:<9} skipped: {r['skipped']}")
            continue
        multi = " ".join(f"{k} {v['macro_f1']:.3f}" for k, v in r["multilingual"].items())
        lines.append(
            f"{name:<9} tickets_dev {r['tickets_dev']['macro_f1']:.3f} | multilingual {multi} | "
            f"airline AUC {r['airline_sentiment_auc']['auc']:.3f} | {r['tickets_per_s']:.1f} tickets/s | "
            f"RSS {r['rss_after_load_mb']:.0f}/{r['peak_rss_mb']:.0f} MB"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
