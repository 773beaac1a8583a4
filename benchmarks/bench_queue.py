"""/queue and /tickets/next latency with 1,000 and with 100,000 tickets stored.

Usage:
    .venv/bin/python benchmarks/bench_queue.py [--quick] [--json] [--requests N]

Starts its own Redis and MVR's API (as ``mvr api`` runs it). Tickets are written
through MVR's store, not the API, to be quick: the accept Lua script of
``AsyncTicketStore`` in pipelines of 1,000, then ``TicketStore.claim`` and
``complete`` for the share that is completed. The store holds, at each size, 60%
of the first 1,000 and 10% of the rest completed (so /tickets/next has tickets
to pop), a few processing, the rest pending.

At each size one client on a keep-alive connection sends, one at a time:
``GET /queue?limit=50`` (the top page), ``GET /queue?limit=50&offset=<random>``
(informational: a page deep in the pending part) and ``GET /tickets/next`` (each
call pops one completed ticket). Reported: p50/p95/p99 in milliseconds and the
ratio p99 at 100k / p99 at 1k (acceptance: at most 2).
"""

from __future__ import annotations

import http.client
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

SIZES = (1_000, 100_000)
#: Share of tickets completed: of the first 1,000, and of the rest.
COMPLETED_SMALL, COMPLETED_LARGE = 0.6, 0.1
#: Tickets claimed but not completed (``processing``) at each size.
PROCESSING = 50
#: Most /tickets/next calls per size (each pops one of the 600 completed tickets at 1k).
MAX_NEXT = 500
#: Tickets written per pipeline.
PIPELINE = 1_000


def fill(redis_url: str, start: int, stop: int, rng: random.Random) -> None:
    """Accept tickets ``start``..``stop`` through the store; complete some, claim a few."""
    import redis

    from mvr.config import Settings
    from mvr.store import AsyncTicketStore, TicketStore, _Keys

    settings = Settings.from_env({"REDIS_URL": redis_url})
    client = redis.Redis.from_url(redis_url)
    # The API's own accept script and arguments (AsyncTicketStore._accept_call), run in pipelines:
    # the same writes as POST /tickets, without HTTP.
    builder = AsyncTicketStore(_NoClient(), settings)
    accept = client.register_script(_Keys.script_source("accept"))
    texts = c.ticket_batch(stop - start, seed=start)
    ids: list[str] = []
    for first in range(0, len(texts), PIPELINE):
        with client.pipeline(transaction=False) as pipe:
            for fields in texts[first : first + PIPELINE]:
                keys, args = builder._accept_call(fields, None)
                accept(keys=keys, args=args, client=pipe)
            ids += [c_reply[1].decode() for c_reply in pipe.execute()]
    share = COMPLETED_SMALL if start == 0 else COMPLETED_LARGE
    store = TicketStore(client, settings)
    chosen = rng.sample(ids, int(share * len(ids)) + PROCESSING)
    for ticket_id in chosen[:-PROCESSING]:
        claim = store.claim(ticket_id)
        store.complete(ticket_id, claim.token, _decision(rng), alert=False)
    for ticket_id in chosen[-PROCESSING:]:
        store.claim(ticket_id)


class _NoClient:
    """Stands in for the asyncio client: only ``register_script`` is used to build arguments."""

    def register_script(self, source: str) -> None:
        return None


def _decision(rng: random.Random) -> Any:
    from mvr.inference.decision import Decision, urgency_label

    s = round(rng.random(), 4)
    category = rng.choice(("Billing", "Technical", "Legal"))
    scores = {name: (0.8 if name == category else 0.1) for name in ("Billing", "Technical", "Legal")}
    return Decision(category, scores, s, urgency_label(s), {"backend": "bench", "fallback": False})


def measure(url: str, path: str | None, n: int, total: int, rng: random.Random) -> dict[str, float]:
    """Latency of ``n`` sequential GETs of ``path`` (None: a random deep /queue page)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    seconds = []
    for i in range(n + n // 10):
        target = path or f"/queue?limit=50&offset={rng.randrange(0, max(1, total - 50))}"
        started = time.perf_counter()
        connection.request("GET", target)
        answer = connection.getresponse()
        answer.read()
        elapsed = time.perf_counter() - started
        if answer.status != 200:
            raise RuntimeError(f"GET {target} answered {answer.status}")
        if i >= n // 10:  # the first tenth warms up
            seconds.append(elapsed)
    connection.close()
    return c.latency_summary(seconds)


def run(quick: bool, requests: int) -> dict[str, Any]:
    machine = c.machine_info()
    rng = random.Random(11)
    by_size: dict[str, Any] = {}
    with c.services() as started:
        redis = c.RedisServer(started, "redis-queue")
        _, url = c.start_mvr_api(started, redis.url)
        stored = 0
        for size in SIZES:
            c.log(f"storing tickets up to {size}")
            began = time.perf_counter()
            fill(redis.url, stored, size, rng)
            stored = size
            fill_s = round(time.perf_counter() - began, 1)
            c.log(f"measuring with {size} tickets ({requests} requests per route)")
            by_size[str(size)] = {
                "fill_s": fill_s,
                "queue_top": measure(url, "/queue?limit=50", requests, size, rng),
                "queue_deep": measure(url, None, requests, size, rng),
                "next": measure(url, "/tickets/next", min(MAX_NEXT, requests), size, rng),
            }
    return summarise(machine, quick, requests, by_size)


def summarise(machine: dict, quick: bool, requests: int, by_size: dict) -> dict[str, Any]:
    small, large = by_size[str(SIZES[0])], by_size[str(SIZES[1])]
    ratios = {
        f"{route}_p99_100k_vs_1k": c.ratio(large[route]["p99_ms"], small[route]["p99_ms"])
        for route in ("queue_top", "queue_deep", "next")
    }
    return {
        "benchmark": "queue",
        "quick": quick,
        "machine": machine,
        "requests_per_route": requests,
        "sizes": by_size,
        "ratios": ratios,
        "acceptance": {
            "queue_p99_100k_le_2x_1k": ratios["queue_top_p99_100k_vs_1k"] <= 2.0,
            "next_p99_100k_le_2x_1k": ratios["next_p99_100k_vs_1k"] <= 2.0,
        },
    }


def render(result: dict[str, Any]) -> str:
    lines = [c.machine_text(result["machine"]), ""]
    lines.append(f"{'tickets':>8} {'route':<34} {'n':>5} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}")
    routes = {
        "queue_top": "GET /queue?limit=50",
        "queue_deep": "GET /queue?limit=50&offset=random",
        "next": "GET /tickets/next",
    }
    for size, figures in result["sizes"].items():
        for key, label in routes.items():
            s = figures[key]
            lines.append(
                f"{size:>8} {label:<34} {s['n']:>5} "
                f"{s['p50_ms']:>7.2f} {s['p95_ms']:>7.2f} {s['p99_ms']:>7.2f}"
            )
    lines += ["", f"Ratios: {result['ratios']}", f"Acceptance: {result['acceptance']}"]
    return "\n".join(lines)


def main() -> None:
    def extra(parser: Any) -> None:
        parser.add_argument("--requests", type=int, default=None, help="GETs per route (default 2000)")

    args = c.parse_args("/queue and /tickets/next latency at 1k and 100k tickets.", extra)
    requests = args.requests or (400 if args.quick else 2000)
    c.emit(run(args.quick, requests), args.json, render)


if __name__ == "__main__":
    main()
