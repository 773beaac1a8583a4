"""Long tickets: what chunking costs (tickets/s by length) and what it buys (a buried sentence).

Usage:
    .venv/bin/python benchmarks/bench_long.py [--quick] [--json] [--seconds S]

Runs the default engine in this process, through its micro-batcher, on tickets of
about 50, 200, 1,000 and 5,000 words (small talk with one decisive sentence at the
end), one ticket at a time, for ``--seconds`` per length. Reported per length:
tickets/s, words/s, chunks read per ticket, and the cost of one ticket relative
to a 50-word one. Also reported: for each of four decisive sentences, whether the
600-word version gets the category of the sentence alone, and |ΔS|.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

LENGTHS = (50, 200, 1_000, 5_000)
SMALL_TALK = (
    "Thank you so much for the wonderful help your team gave us last spring.",
    "I hope everyone at the office is doing well and enjoying the season.",
    "We have been happy customers for many years and recommend you to friends.",
    "The weather here has been lovely and we went hiking on the weekend.",
    "My colleague says hello and sends her regards to the support crew.",
)
DECISIVE = (
    "Since this morning our production server is down and none of our users can log in.",
    "I was charged twice for my subscription this month and need a refund.",
    "Under the GDPR I request a copy of all personal data you hold about me.",
    "The export to CSV fails with an error since the last update.",
)


def ticket(words: int, sentence: str, seed: int) -> str:
    """Return about ``words`` words of small talk followed by ``sentence``."""
    rng = random.Random(seed)
    text: list[str] = []
    while len(text) < words - len(sentence.split()):
        text += rng.choice(SMALL_TALK).split()
    return " ".join([*text, sentence])


def measure(engine: Any, words: int, seconds: float) -> dict[str, Any]:
    """Decide tickets of ``words`` words one at a time for ``seconds``."""
    texts = [ticket(words, DECISIVE[i % len(DECISIVE)], seed=i) for i in range(8)]
    engine.decide(texts[0])  # warm-up
    done, chunks, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds or done < 2:
        decision = engine.decide(texts[done % len(texts)])
        chunks += (decision.explanation.get("chunks") or {}).get("count", 0)
        done += 1
    elapsed = time.perf_counter() - start
    return {
        "words": words,
        "tickets": done,
        "tickets_per_s": done / elapsed,
        "words_per_s": done * words / elapsed,
        "chunks_per_ticket": chunks / done,
    }


def buried(engine: Any) -> list[dict[str, Any]]:
    """Compare each decisive sentence alone with the same sentence after 600 words."""
    rows = []
    for i, sentence in enumerate(DECISIVE):
        alone, long = engine.decide_many([sentence, ticket(600 + len(sentence.split()), sentence, seed=i)])
        rows.append(
            {
                "sentence": sentence,
                "category_alone": alone.category,
                "category_buried": long.category,
                "same_category": alone.category == long.category,
                "abs_delta_s": round(abs(alone.urgency_score - long.urgency_score), 4),
            }
        )
    return rows


def render(result: dict[str, Any]) -> str:
    lines = [c.machine_text(result["machine"]), "", "words  tickets/s  words/s  chunks  cost vs 50 words"]
    for row in result["lengths"]:
        lines.append(
            f"{row['words']:>5}  {row['tickets_per_s']:9.1f}  {row['words_per_s']:7.0f}  "
            f"{row['chunks_per_ticket']:6.1f}  {row['cost_vs_shortest']:6.1f}x"
        )
    lines += ["", "buried sentence (600 words before it): same category, |dS|"]
    lines += [
        f"  {r['same_category']!s:5}  {r['abs_delta_s']:.3f}  {r['sentence']}" for r in result["buried"]
    ]
    return "\n".join(lines)


def main() -> None:
    args = c.parse_args(__doc__.splitlines()[0], _options)
    from mvr.config import Settings
    from mvr.inference.engine import Engine

    seconds = 1.0 if args.quick else args.seconds
    engine = Engine.from_settings(Settings.from_env({}))
    try:
        lengths = []
        for words in LENGTHS:
            c.log(f"{words} words for {seconds:.0f} s")
            lengths.append(measure(engine, words, seconds))
        rows = buried(engine)
    finally:
        engine.close()
    for row in lengths:
        row["cost_vs_shortest"] = c.ratio(lengths[0]["tickets_per_s"], row["tickets_per_s"])
    result = {"quick": args.quick, "machine": c.machine_info(), "lengths": lengths, "buried": rows}
    c.emit(result, args.json, render)


def _options(parser: Any) -> None:
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per length (default 10)")


if __name__ == "__main__":
    main()
