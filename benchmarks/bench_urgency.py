"""Urgency benchmark: does S rank high-priority tickets first, does the sentiment head find negative tweets?

Usage:
    .venv/bin/python benchmarks/bench_urgency.py [--quick] [--json] [--sources /work/.mirror]
        [--encoder minilm] [--bootstrap 1000]

Sources (each is skipped with a message when its data is not on this machine):
- ``airline``: ROC AUC of P(negative), negative vs neutral + positive, on
  ``../shared/data/airline_sentiment_dev.csv`` (the sentiment head never trains on it).
- ``apache_jira``: public Apache Jira issues (Nutch, Kafka, Spark; see ``scripts/public_sources.py``
  for repositories, commits and licences), Blocker/Critical vs the rest. Nothing is trained or tuned
  on them; fetch the two scraper repositories to run it.
- ``fluid_jira``: the Fluid Project's public Jira (``fetch github:fluid-project/jira-to-11ty``),
  Blocker/Critical vs the rest, pooled and per project with at least 30 high issues. A priority head
  may be trained on it (``train_urgency_head.py --data jira,fluid``): then it measures only the
  sentiment head and the cues out of sample; ``priority_head_rows`` in the output says what the head saw.
- ``tickets_dev`` (Tobi Bueck rows with a priority) and ``tickets_multilingual`` (per language):
  high vs medium + low, internal references.

For each priority source: ROC AUC of S, of its parts alone (P(negative), cue score) and a 95%
bootstrap interval of S's AUC. ``--quick`` takes a deterministic sample of each source.
To compare with another copy of MVR (e.g. the code before a change), put that copy first on
``PYTHONPATH`` (the seed figures were measured that way, before ``--encoder`` existed).
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import _common as c  # noqa: E402
import public_sources as ps  # noqa: E402

from mvr.inference.evaluation import roc_auc  # noqa: E402
from mvr.inference.model_files import MANIFEST, PRIORITY_HEAD, SENTIMENT_HEAD  # noqa: E402
from mvr.inference.urgency import SentimentHead, combine_urgency  # noqa: E402
from mvr.ticket import ticket_text  # noqa: E402

#: Rows per source in ``--quick`` mode.
QUICK_ROWS = 150
#: Jira priorities counted as high.
JIRA_HIGH = ("blocker", "critical")
#: Fluid projects reported on their own need this many high issues (the rest only count in ``all``).
FLUID_MIN_HIGH = 30
#: Ticket priorities counted as high.
TICKET_HIGH = ("critical", "high")


def main() -> None:
    """Score every available source and print the result."""
    args = c.parse_args(__doc__.split("\n")[0], _options)
    started = time.perf_counter()
    embed, model_id, args.models_dir = ps.load_encoder(args.encoder, features=True)
    head = SentimentHead.load(args.models_dir / SENTIMENT_HEAD)
    priority_path = args.models_dir / PRIORITY_HEAD
    priority = _priority_head(priority_path) if priority_path.is_file() and not args.no_priority else None
    cache = None if args.quick else args.cache
    limit = QUICK_ROWS if args.quick else None
    rounds = 100 if args.quick else args.bootstrap

    known: dict[str, tuple[float, float | None]] = {}

    def probabilities(texts: list[str]) -> list[tuple[float, float | None]]:
        """(P(negative), P(high) or None) of ``texts``; each text is embedded once per run."""
        missing = [t for t in texts if t not in known]
        if missing:
            x = ps.embed_cached(embed, model_id, missing, cache)
            high = priority.p_high(x, missing).tolist() if priority is not None else [None] * len(missing)
            known.update(zip(missing, zip(head.p_negative(x).tolist(), high, strict=True), strict=True))
        return [known[t] for t in texts]

    def p_negative(texts: list[str]) -> np.ndarray:
        return np.array([p for p, _ in probabilities(texts)])

    def score(rows: list[tuple[str, bool]]) -> dict[str, Any]:
        return _score(rows, probabilities, rounds)

    sources: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    airline_path = ps.SHARED_DATA / "airline_sentiment_dev.csv"
    if airline_path.is_file():
        texts, negative = ps.airline_dev(airline_path)
        tweets = _sample(list(zip(texts, negative, strict=True)), limit)
        sources["airline"] = {
            "rows": len(tweets),
            "negative": sum(n for _, n in tweets),
            "auc_p_negative": round(roc_auc(p_negative([t for t, _ in tweets]), [n for _, n in tweets]), 4),
        }
    else:
        skipped["airline"] = f"{airline_path} not found"
    trackers = (
        ("apache_jira", lambda: ps.jira_issues(args.sources, ps.JIRA_EVAL), 0),
        ("fluid_jira", lambda: ps.fluid_issues(args.sources), FLUID_MIN_HIGH),
    )
    for name, read_issues, min_high in trackers:
        try:
            issues = read_issues()
        except FileNotFoundError as ex:
            skipped[name] = f"{ex}"
            continue
        per_project = {p: [(t, prio.lower() in JIRA_HIGH) for t, prio in rows] for p, rows in issues.items()}
        pooled = [row for rows in per_project.values() for row in rows]
        sources[name] = {"all": score(_sample(pooled, limit))}
        if not args.quick:
            big = {p: rows for p, rows in per_project.items() if sum(h for _, h in rows) >= min_high}
            sources[name].update({p: score(rows) for p, rows in big.items()})
    for name, file_name, by in (
        ("tickets_dev", "tickets_dev.csv", None),
        ("tickets_multilingual", "tickets_multilingual_dev.csv", "language"),
    ):
        path = ps.SHARED_DATA / file_name
        if not path.is_file():
            skipped[name] = f"{path} not found"
            continue
        groups = _ticket_priorities(path, by)
        sources[name] = {group: score(_sample(rows, limit)) for group, rows in groups.items()}
    result = {
        "benchmark": "urgency",
        "quick": args.quick,
        "formula": (combine_urgency(0.0, "") if priority is None else combine_urgency(0.0, "", 0.0))[1][
            "formula"
        ],
        "models_dir": str(args.models_dir),
        "priority_head_rows": _head_rows(args.models_dir, priority_path.name) if priority else None,
        "sources": sources,
        "skipped": skipped,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": c.machine_info(),
    }
    for name, why in skipped.items():
        c.log(f"skipped {name}: {why}")
    c.emit(result, args.json, _render)


def _options(parser: Any) -> None:
    parser.add_argument("--sources", type=Path, default=ps.DEFAULT_SOURCES, help="directory of fetched repos")
    parser.add_argument("--encoder", default="minilm", help="MVR_ENCODER whose heads to measure")
    parser.add_argument(
        "--cache", type=Path, default=ps.DEFAULT_CACHE, help="embedding cache (not in --quick)"
    )
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the intervals")
    parser.add_argument("--no-priority", action="store_true", help="ignore MODELS_DIR/priority_head.npz")


def _priority_head(path: Path) -> Any:
    """The priority head of ``path``, with the words score beside it if there is one.

    Imported here: copies of MVR before the priority head have none.
    """
    from mvr.inference.model_files import PRIORITY_WORDS
    from mvr.inference.urgency import PriorityHead

    words = path.parent / PRIORITY_WORDS
    return PriorityHead.load(path, words if words.is_file() else None)


def _head_rows(models_dir: Path, file_name: str) -> Any:
    """Rows per training group of head ``file_name``, as its manifest records them (None if absent)."""
    manifest = json.loads((models_dir / MANIFEST).read_text(encoding="utf-8"))
    return manifest.get("heads", {}).get(file_name, {}).get("rows")


def _ticket_priorities(path: Path, by: str | None) -> dict[str, list[tuple[str, bool]]]:
    """(subject + body, is high) of rows with a priority, grouped by column ``by`` plus ``all``."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("priority", "").strip()]
    groups: dict[str, list[tuple[str, bool]]] = {}
    for r in rows:
        item = (
            ticket_text(r.get("subject", ""), r.get("body", "")),
            r["priority"].strip().lower() in TICKET_HIGH,
        )
        groups.setdefault("all", []).append(item)
        if by is not None:
            groups.setdefault(r[by], []).append(item)
    return dict(sorted(groups.items()))


def _sample(rows: list[Any], limit: int | None) -> list[Any]:
    """All rows, or the ``limit`` whose text hashes first (deterministic)."""
    if limit is None or len(rows) <= limit:
        return rows
    return sorted(rows, key=lambda r: hashlib.sha256(r[0].encode("utf-8")).digest())[:limit]


def _score(rows: list[tuple[str, bool]], probabilities: Any, rounds: int) -> dict[str, Any]:
    """AUC of S and of its parts for ``rows`` (text, is high), with a bootstrap interval for S."""
    texts = [t for t, _ in rows]
    high = np.array([h for _, h in rows], dtype=bool)
    out: dict[str, Any] = {"rows": len(rows), "high": int(high.sum())}
    if high.all() or not high.any():
        return {**out, "auc_s": None, "note": "needs both high and other rows"}
    probs = probabilities(texts)
    p = np.array([pn for pn, _ in probs])
    parts = [
        combine_urgency(pn, t) if ph is None else combine_urgency(pn, t, ph)
        for (pn, ph), t in zip(probs, texts, strict=True)
    ]
    s = np.array([part[0] for part in parts])
    cues = np.array([part[1]["cue_score"] for part in parts])
    out["auc_s"] = round(roc_auc(s, high), 4)
    out["ci95_s"] = _bootstrap(s, high, rounds)
    out["auc_p_negative"] = round(roc_auc(p, high), 4)
    out["auc_cues"] = round(roc_auc(cues, high), 4)
    if probs[0][1] is not None:
        out["auc_priority_head"] = round(roc_auc([ph for _, ph in probs], high), 4)
    out["share_s_above_0_8"] = {
        "high": round(float(np.mean(s[high] > 0.8)), 3),
        "other": round(float(np.mean(s[~high] > 0.8)), 3),
    }
    return out


def _bootstrap(scores: np.ndarray, high: np.ndarray, rounds: int) -> list[float]:
    """95% percentile interval of the AUC over ``rounds`` resamples of the rows (fixed seed)."""
    rng = np.random.default_rng(12)
    aucs = []
    for _ in range(rounds):
        pick = rng.integers(0, len(scores), len(scores))
        if high[pick].any() and not high[pick].all():
            aucs.append(roc_auc(scores[pick], high[pick]))
    return [round(float(np.percentile(aucs, 2.5)), 4), round(float(np.percentile(aucs, 97.5)), 4)]


def _render(result: dict[str, Any]) -> str:
    lines = [f"Urgency benchmark ({'quick' if result['quick'] else 'full'}); {result['formula']}"]
    airline = result["sources"].get("airline")
    if airline:
        lines.append(
            f"airline_sentiment_dev: {airline['rows']} tweets, AUC P(negative) {airline['auc_p_negative']}"
        )
    lines.append(
        "source / group: rows, high, AUC S [95% CI], AUC P(negative), AUC cues, share S>0.8 high/other"
    )
    for name, groups in result["sources"].items():
        if name == "airline":
            continue
        for group, r in groups.items():
            if r.get("auc_s") is None:
                lines.append(f"{name} / {group}: {r['rows']} rows, {r['high']} high: {r['note']}")
                continue
            share = r["share_s_above_0_8"]
            lines.append(
                f"{name} / {group}: {r['rows']}, {r['high']}, {r['auc_s']} {r['ci95_s']}, "
                f"{r['auc_p_negative']}, {r['auc_cues']}, {share['high']}/{share['other']}"
            )
    lines += [f"skipped {name}: {why}" for name, why in result["skipped"].items()]
    lines.append(c.machine_text(result["machine"]))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
