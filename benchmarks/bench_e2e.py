"""End to end: tickets through MVR's API and worker, against the engine alone, in one run.

Usage:
    .venv/bin/python benchmarks/bench_e2e.py [--quick] [--json] [--tickets N] [--stream-s S]
        [--worker-env NAME=VALUE ...]

Starts its own Redis (127.0.0.1, free port, no persistence), MVR's API (as
``mvr api`` runs it) and one worker (as ``mvr worker`` runs it: ``dramatiq
mvr.actors`` with ``MVR_WORKER_PROCESSES`` × ``MVR_WORKER_THREADS`` and the CLI's
worker environment, its metrics port on 127.0.0.1), with the default backend
unless ``MVR_BACKEND`` is set. Then:

1. warm-up: 16 tickets, until completed (the worker loads its engine on first use);
2. throughput: the warm worker is stopped, N tickets (default 2,000) are posted
   through the API by 32 concurrent clients, then a fresh worker drains them
   (so the figure is the worker's, not the client's); worker tickets/s from the
   tickets' completion times (``updated_at``, ms), skipping the first 5% (engine
   load and ramp-up);
3. the engine alone, in this process, on the same texts (``ticket_text`` of the
   same fields), ``Engine.from_settings`` with the same settings, from
   ``worker_threads`` threads each calling ``engine.decide`` (same batcher): half
   the texts just before step 2 and half just after, so that a change in the
   machine's background load weighs on both figures; pipeline efficiency =
   worker / engine tickets/s; CPU efficiency = engine CPU per ticket (this
   process) / worker CPU per ticket (its process tree, /proc, over the drain's
   window): on a shared machine CPU time moves less than wall time;
4. a steady stream at 50% of the measured worker capacity (open loop, one POST
   every 1/rate seconds): time-to-completed per ticket = its ``updated_at`` when
   completed - the moment its POST was sent; p50/p95/p99;
5. Redis round trips per ticket while the fresh worker drains (``RoundTrips``: each
   command a client sent, by command and script, the benchmark's own polls left out);
6. peak RSS (VmHWM) of the API's worker processes and of the worker's processes.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

#: Tickets that warm the worker up (engine load) before anything is measured.
WARMUP = 16
#: Acceptance limits.
MIN_EFFICIENCY = 0.92
MAX_P99_S = 2.0
MAX_API_RSS_MB = 80.0
MAX_WORKER_RSS_MB = 400.0


async def post_stream(url: str, batch: list[dict[str, str]], rate: float) -> dict[str, float]:
    """POST ``batch`` at ``rate`` tickets/s (open loop); return ``{ticket_id: wall time sent}``."""
    import httpx

    sent: dict[str, float] = {}

    async def one(http: httpx.AsyncClient, fields: dict[str, str]) -> None:
        started = time.time()
        answer = await http.post("/tickets", json=fields)
        answer.raise_for_status()
        sent[answer.json()["ticket_id"]] = started

    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        begin = time.monotonic()
        tasks = []
        for i, fields in enumerate(batch):
            await asyncio.sleep(max(0.0, begin + i / rate - time.monotonic()))
            tasks.append(asyncio.create_task(one(http, fields)))
        await asyncio.gather(*tasks)
    return sent


class EngineAlone:
    """The worker's engine in this process, timed on texts from ``worker_threads`` threads."""

    def __init__(self, env: dict[str, str], warmup: list[str]) -> None:
        from mvr.config import Settings
        from mvr.inference.engine import Engine

        self.settings = Settings.from_env(env)
        self.engine = Engine.from_settings(self.settings)
        for text in warmup:
            self.engine.decide(text)
        self.texts = 0
        self.seconds = 0.0
        self.cpu_seconds = 0.0

    def run(self, texts: list[str]) -> None:
        """Decide every text of ``texts`` from ``worker_threads`` threads; add to the totals."""
        began, cpu_began = time.perf_counter(), time.process_time()
        c.each_from_threads(texts, self.engine.decide, self.settings.worker_threads)
        self.seconds += time.perf_counter() - began
        self.cpu_seconds += time.process_time() - cpu_began
        self.texts += len(texts)

    def summary(self) -> dict[str, Any]:
        self.engine.backend.close()
        return {
            "backend": self.engine.backend_name,
            "fallback_reason": self.engine.fallback_reason,
            "threads": self.settings.worker_threads,
            "tickets_per_s": round(self.texts / self.seconds, 1),
            "cpu_ms_per_ticket": round(1e3 * self.cpu_seconds / self.texts, 3),
        }


def stream_latency(url: str, client: Any, rate: float, duration_s: float, done_before: int) -> dict[str, Any]:
    """Time-to-completed of a steady stream at ``rate`` tickets/s for ``duration_s``."""
    batch = c.ticket_batch(max(1, int(rate * duration_s)), seed=99)
    sent = asyncio.run(post_stream(url, batch, rate))
    c.wait_completed(client, done_before + len(batch), timeout_s=60 + duration_s)
    with client.pipeline(transaction=False) as pipe:
        for ticket_id in sent:
            pipe.hget(f"mvr:ticket:{ticket_id}", "updated_at")
        updated = pipe.execute()
    seconds = [c.completed_at(u) - sent[t] for t, u in zip(sent, updated, strict=True)]
    return {"rate_per_s": round(rate, 1), "tickets": len(batch), **c.latency_summary(seconds)}


def run(quick: bool, tickets: int, stream_s: float, worker_env: dict[str, str]) -> dict[str, Any]:
    from mvr.ticket import ticket_text

    machine = c.machine_info()
    with c.services() as started:
        redis = c.RedisServer(started, "redis-e2e")
        client = redis.client()
        api, url = c.start_mvr_api(started, redis.url)
        env = c.mvr_env(started, redis.url)
        env_worker = {**env, **worker_env}
        worker = c.start_mvr_worker(started, env_worker, "worker-warmup")
        c.log(f"warming up ({WARMUP} tickets; the worker loads its engine on first use)")
        asyncio.run(c.post_all(url, c.ticket_batch(WARMUP, seed=1)))
        c.wait_completed(client, WARMUP, timeout_s=180)
        started.stop(worker)
        batch = c.ticket_batch(tickets, seed=2)
        texts = [ticket_text(**fields) for fields in batch]
        c.log("the engine alone on the first half of the texts")
        alone = EngineAlone({**os.environ, **env}, texts[-WARMUP:])
        alone.run(texts[: tickets // 2])
        c.log(f"throughput: {tickets} tickets posted through the API, then a fresh worker drains them")
        began = time.monotonic()
        ids = asyncio.run(c.post_all(url, batch))
        intake_s = time.monotonic() - began
        with c.RoundTrips(client, c.script_names()) as round_trips:
            worker = c.start_mvr_worker(started, env_worker, "worker")
            with c.CpuSampler([worker.pid]) as worker_cpu:
                c.wait_completed(client, WARMUP + tickets, timeout_s=600)
        start, end, drained = c.drain_window(client, ids)
        worker_tps = drained / (end - start)
        worker_cpu_ms = 1e3 * worker_cpu.rate_between_wall_times(start, end) / worker_tps
        c.log("the engine alone on the second half of the texts")
        alone.run(texts[tickets // 2 :])
        engine = alone.summary()
        rate = 0.5 * worker_tps
        c.log(f"steady stream at {rate:.1f} tickets/s for {stream_s:g} s")
        latency = stream_latency(url, client, rate, stream_s, WARMUP + tickets)
        rss = {
            "api_workers_mb": [c.vm_hwm_mb(p) for p in c.worker_pids(api.pid)],
            "worker_processes_mb": [c.vm_hwm_mb(p) for p in c.descendants(worker.pid)],
        }
        worker_log = (started.tmp / "worker.log").read_text(errors="replace")
    backend_line = next((line for line in worker_log.splitlines() if "Engine ready backend=" in line), "")
    result = summarise(machine, quick, tickets, worker_tps, intake_s, engine, latency, rss, backend_line)
    result["worker_env"] = worker_env
    result["worker_cpu_ms_per_ticket"] = round(worker_cpu_ms, 3)
    result["cpu_efficiency"] = c.ratio(engine["cpu_ms_per_ticket"], worker_cpu_ms)
    result["redis_round_trips_per_ticket"] = round_trips.per(tickets)
    result["acceptance"]["round_trips_per_ticket_le_2"] = result["redis_round_trips_per_ticket"]["total"] <= 2
    return result


def summarise(
    machine: dict,
    quick: bool,
    tickets: int,
    worker_tps: float,
    intake_s: float,
    engine: dict,
    latency: dict,
    rss: dict,
    backend_line: str,
) -> dict[str, Any]:
    efficiency = c.ratio(worker_tps, engine["tickets_per_s"])
    api_rss, worker_rss = max(rss["api_workers_mb"]), max(rss["worker_processes_mb"])
    return {
        "benchmark": "e2e",
        "quick": quick,
        "machine": machine,
        "tickets": tickets,
        "backend": engine["backend"],
        "fallback_reason": engine["fallback_reason"],
        "worker_engine_log": backend_line.strip(),
        "intake_s": round(intake_s, 2),
        "worker_tickets_per_s": round(worker_tps, 1),
        "engine": engine,
        "pipeline_efficiency": efficiency,
        "stream_at_50pct": latency,
        "rss": rss,
        "acceptance": {
            "efficiency_ge_0.92": efficiency >= MIN_EFFICIENCY,
            "p99_time_to_completed_le_2s": latency["p99_ms"] <= MAX_P99_S * 1000,
            "api_worker_rss_le_80mb": api_rss <= MAX_API_RSS_MB,
            "worker_rss_le_400mb": worker_rss <= MAX_WORKER_RSS_MB,
            "int8_model_loaded": engine["backend"] == "embedding" and not engine["fallback_reason"],
        },
    }


def render(result: dict[str, Any]) -> str:
    e, s = result["engine"], result["stream_at_50pct"]
    return "\n".join(
        [
            c.machine_text(result["machine"]),
            "",
            f"Backend: {result['backend']} (fallback: {result['fallback_reason']}); {e['threads']} threads; "
            f"worker env {result['worker_env']}",
            f"{result['tickets']} tickets: intake {result['intake_s']} s; worker "
            f"{result['worker_tickets_per_s']} tickets/s; engine alone {e['tickets_per_s']} tickets/s; "
            f"pipeline efficiency {result['pipeline_efficiency']}",
            f"Steady stream at {s['rate_per_s']} tickets/s ({s['tickets']} tickets): time-to-completed "
            f"p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, p99 {s['p99_ms']} ms",
            f"CPU per ticket: worker {result['worker_cpu_ms_per_ticket']} ms (its processes, drain window), "
            f"engine alone {e['cpu_ms_per_ticket']} ms; CPU efficiency {result['cpu_efficiency']}",
            f"Redis round trips per ticket during the drain: {result['redis_round_trips_per_ticket']}",
            f"Peak RSS (MiB): API workers {result['rss']['api_workers_mb']}, "
            f"worker processes {result['rss']['worker_processes_mb']}",
            f"Acceptance: {result['acceptance']}",
        ]
    )


def main() -> None:
    def extra(parser: Any) -> None:
        parser.add_argument("--tickets", type=int, default=None, help="tickets for throughput (default 2000)")
        parser.add_argument(
            "--stream-s", type=float, default=None, help="seconds of steady stream (default 30)"
        )
        parser.add_argument(
            "--worker-env",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="extra environment of the worker, to measure a tuning (e.g. dramatiq_worker_timeout=50)",
        )

    args = c.parse_args("MVR end to end: worker vs engine throughput, latency at 50% load, RSS.", extra)
    tickets = args.tickets or (300 if args.quick else 2000)
    stream_s = args.stream_s or (8.0 if args.quick else 30.0)
    worker_env = dict(item.split("=", 1) for item in args.worker_env)
    c.emit(run(args.quick, tickets, stream_s, worker_env), args.json, render)


if __name__ == "__main__":
    main()
