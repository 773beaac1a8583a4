"""/queue and /tickets/next latency with 1,000 and with 100,000 tickets stored.

Usage:
    .venv/bin/python benchmarks/bench_queue.py [--quick] [--json] [--requests N]

Starts its own Redis and MVR's API (as ``mvr api`` runs it). Tickets are written
through MVR's store, not the API, to be quick: the accept Lua script of
``AsyncTicketStore`` in pipelines of 1,000, then ``TicketStore.claim`` and
``complete`` for the share that is completed. The store holds, at each size, 60%
of the first 1,000 and 10% of the rest completed (so /tickets/next has tickets
to pop), a few processing, the rest pending.

Each size has its own Redis and API, and requests alternate between the two (1k,
100k, 1k, ...): a change in the machine's background load hits both alike. One
client on one keep-alive connection per size sends, one at a time:
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
#: Requests per route and size before measuring.
WARMUP = 20
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
        store.complete(ticket_id, claim.token, _decision(rng))
    for ticket_id in chosen[-PROCESSING:]:
        store.claim(ticket_id)


class _NoClient:
    """Stands in for the asyncio client: only ``register_script`` is used to build arguments."""

    def register_script(self, source: str) -> None:
        return None


def _decision(rng: random.Random) -> Any:
    from mvr.ticket import Decision, urgency_label

    s = round(rng.random(), 4)
    category = rng.choice(("Billing", "Technical", "Legal"))
    scores = {name: (0.8 if name == category else 0.1) for name in ("Billing", "Technical", "Legal")}
    return Decision(category, scores, s, urgency_label(s), {"backend": "bench", "fallback": False})


def measure(apis: dict[int, str], path: str | None, n: int, rng: random.Random) -> dict[int, list[float]]:
    """Seconds taken by ``n`` GETs of ``path`` on each API, alternating between them request by request.

    ``path`` None means a random page deep in the pending part of /queue.
    """
    connections = {}
    for size, url in apis.items():
        host, port = url.removeprefix("http://").split(":")
        connections[size] = http.client.HTTPConnection(host, int(port), timeout=10)
    seconds: dict[int, list[float]] = {size: [] for size in apis}
    for _ in range(n):
        for size, connection in connections.items():
            target = path or f"/queue?limit=50&offset={rng.randrange(0, size - 50)}"
            started = time.perf_counter()
            connection.request("GET", target)
            answer = connection.getresponse()
            answer.read()
            seconds[size].append(time.perf_counter() - started)
            if answer.status != 200:
                raise RuntimeError(f"GET {target} answered {answer.status}")
    for connection in connections.values():
        connection.close()
    return seconds


def routes(requests: int) -> dict[str, tuple[str | None, int]]:
    """Route key -> (path, number of requests)."""
    return {
        "queue_top": ("/queue?limit=50", requests),
        "queue_deep": (None, requests),
        "next": ("/tickets/next", min(MAX_NEXT, requests)),
    }


def run(quick: bool, requests: int) -> dict[str, Any]:
    machine = c.machine_info()
    rng = random.Random(11)
    apis: dict[int, str] = {}
    fill_s: dict[int, float] = {}
    with c.services() as started:
        for size in SIZES:
            redis = c.RedisServer(started, f"redis-{size}")
            apis[size] = c.start_mvr_api(started, redis.url, name=f"api-{size}")[1]
            c.log(f"storing {size} tickets")
            began = time.perf_counter()
            fill(redis.url, 0, min(size, SIZES[0]), rng)
            if size > SIZES[0]:
                fill(redis.url, SIZES[0], size, rng)
            fill_s[size] = round(time.perf_counter() - began, 1)
        measure(apis, None, WARMUP, rng)  # connections, scripts, caches
        samples: dict[int, dict[str, list[float]]] = {size: {} for size in SIZES}
        for key, (path, n) in routes(requests).items():
            c.log(f"{key}: {n} requests per size, alternating between the sizes")
            for size, seconds in measure(apis, path, n, rng).items():
                samples[size][key] = seconds
    by_size = {
        str(size): {"fill_s": fill_s[size], **{k: c.latency_summary(v) for k, v in samples[size].items()}}
        for size in SIZES
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
