"""Scale-out: 1 and 2 API processes, 1 and 2 worker processes on one Redis, and RabbitMQ as the broker.

Usage:
    .venv/bin/python benchmarks/bench_scale.py [--quick] [--json] [--tickets N] [--rabbitmq-url URL]

Each setup gets its own Redis (127.0.0.1, free port, no persistence), MVR's API (as ``mvr api``
runs it, ``MVR_API_WORKERS`` processes) and workers (as ``mvr worker`` runs them: each one
``dramatiq`` master with one process of ``MVR_WORKER_THREADS`` threads, as one machine would
run it), with the default backend. For each setup:

1. warm-up: 16 tickets through the API until completed (the workers load their engines);
2. intake: the workers are stopped, N tickets (default 2,000) are posted by 32 concurrent
   clients: accepted tickets/s, API CPU per ticket (the API's process tree, /proc) and Redis
   CPU per accepted ticket (``INFO cpu`` of the Redis process: user + system);
3. drain: fresh workers drain them: tickets/s from the completion times (as ``bench_e2e.py``),
   worker CPU per ticket (whole life of the workers, engine load included: an upper bound) and
   Redis CPU per triaged ticket (``INFO cpu`` sampled every 0.2 s, over the same window as the
   rate: engine load and idle polls before the first completion are left out).

Setups: ``api1`` (1 API process, 1 worker), ``api2`` (2 API processes, 1 worker), ``workers2``
(2 API processes, 2 workers), ``rabbitmq`` (2 API processes, 1 worker, ``MVR_BROKER_URL``: the
triage and alert queues live in RabbitMQ, Redis keeps the tickets). Every ticket costs Redis
``intake + drain`` CPU; one Redis core then serves ``1 / that`` tickets/s, the ``redis_limit``.

The RabbitMQ queues are Dramatiq's fixed ``triage`` and ``alerts``: the setup purges them
first, so nothing else may use that RabbitMQ while it runs (it is skipped when RabbitMQ does
not answer, and says so).
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

#: Tickets that warm the workers up (engine load) before anything is measured.
WARMUP = 16
#: The RabbitMQ this machine runs (guest/guest is only allowed from localhost).
DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
#: (name, API processes, worker processes, through RabbitMQ).
SETUPS = (("api1", 1, 1, False), ("api2", 2, 1, False), ("workers2", 2, 2, False), ("rabbitmq", 2, 1, True))


def redis_cpu_s(client: Any) -> float:
    """CPU seconds the Redis server has used (user + system, microsecond resolution)."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


class Phase:
    """CPU seconds of Redis and of some process trees over a window, and its wall time."""

    def __init__(self, client: Any, roots: list[int]) -> None:
        self._client, self._roots = client, roots

    def __enter__(self) -> Phase:
        self._began = time.monotonic()
        self._redis, self._tree = redis_cpu_s(self._client), c.tree_cpu_seconds(self._roots)
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.monotonic() - self._began
        self.redis_s = redis_cpu_s(self._client) - self._redis
        self.tree_s = c.tree_cpu_seconds(self._roots) - self._tree


class DrainSampler(c.PeriodicSampler[tuple[float, int]]):
    """Samples Redis's CPU seconds and the completed count in a thread while workers drain."""

    def __init__(self, client: Any, interval_s: float = 0.2) -> None:
        super().__init__(interval_s)
        self._client = client

    def sample(self) -> tuple[float, int]:
        return redis_cpu_s(self._client), int(self._client.zcard("mvr:ready"))

    def cpu_per_ticket_s(self, start: int, end: int) -> float:
        """Redis CPU seconds per ticket completed while the count went from ``start`` to ``end``.

        Skips engine load and ramp-up (as ``drain_rate``): between the first sample at or past
        ``start`` plus 5% and the first at ``end``; when no sample falls between them (a short
        drain), from the last sample before that start instead.
        """
        first = start + max(c.DRAIN_SKIP, (end - start) // 20)
        cpu1, done1 = next(s for s in self.samples if s[1] >= end)
        cpu0, done0 = next((s for s in self.samples if first <= s[1] < done1), None) or max(
            (s for s in self.samples if s[1] < first), key=lambda s: s[1], default=(cpu1, done1)
        )
        return (cpu1 - cpu0) / (done1 - done0) if done1 > done0 else float("nan")


def purge_rabbitmq(url: str) -> str | None:
    """Empty Dramatiq's queues on RabbitMQ; return why it cannot be used, or None."""
    try:
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url, middleware=[])
        for queue in ("triage", "alerts"):
            broker.declare_queue(queue)
            broker.flush(queue)
        broker.close()
    except Exception as ex:  # noqa: BLE001 - any failure means: not reachable here
        return f"{type(ex).__name__}: {ex}"
    return None


def start_workers(started: c.Services, env: dict[str, str], count: int, name: str) -> list[Any]:
    return [c.start_mvr_worker(started, env, f"{name}-{n}") for n in range(count)]


def run_setup(
    name: str, api_processes: int, workers: int, broker_url: str | None, tickets: int
) -> dict[str, Any]:
    """Warm up, then measure intake and drain of ``tickets`` for one setup."""
    extra = {"MVR_API_WORKERS": str(api_processes)}
    if broker_url:
        extra["MVR_BROKER_URL"] = broker_url
    with c.services() as started:
        redis = c.RedisServer(started, f"redis-{name}")
        client = redis.client()
        api, url = c.start_mvr_api(started, redis.url, **extra)
        env = c.mvr_env(started, redis.url, **extra, MVR_WORKER_PROCESSES="1")
        c.log(f"{name}: warming up {workers} worker(s)")
        warm = start_workers(started, env, workers, f"{name}-warmup")
        asyncio.run(c.post_all(url, c.ticket_batch(WARMUP * workers, seed=1)))
        c.wait_completed(client, WARMUP * workers, timeout_s=240)
        for process in warm:
            started.stop(process)
        batch = c.ticket_batch(tickets, seed=2)
        c.log(f"{name}: intake of {tickets} tickets through {api_processes} API process(es)")
        with Phase(client, [api.pid]) as intake:
            ids = asyncio.run(c.post_all(url, batch))
        c.log(f"{name}: {workers} fresh worker(s) drain them")
        with DrainSampler(redis.client()) as drain:
            fresh = start_workers(started, env, workers, name)
            c.wait_completed(client, WARMUP * workers + tickets, timeout_s=900)
            time.sleep(0.5)  # a last sample with every ticket completed
        redis_drain_s = drain.cpu_per_ticket_s(WARMUP * workers, WARMUP * workers + tickets)
        worker_cpu_s = c.tree_cpu_seconds([p.pid for p in fresh])
        worker_tps = c.drain_rate(client, ids)
    return summarise_setup(
        api_processes, workers, broker_url, tickets, intake, redis_drain_s, worker_cpu_s, worker_tps
    )


def summarise_setup(
    api_processes: int,
    workers: int,
    broker_url: str | None,
    tickets: int,
    intake: Phase,
    redis_drain_s: float,
    worker_cpu_s: float,
    worker_tps: float,
) -> dict[str, Any]:
    redis_us = 1e6 * (intake.redis_s / tickets + redis_drain_s)
    return {
        "api_processes": api_processes,
        "worker_processes": workers,
        "broker": "rabbitmq" if broker_url else "redis",
        "intake_tickets_per_s": round(tickets / intake.seconds, 1),
        "api_cpu_us_per_ticket": round(1e6 * intake.tree_s / tickets, 1),
        "worker_tickets_per_s": round(worker_tps, 1),
        # Includes engine load and the ramp-up that the rate skips: an upper bound.
        "worker_cpu_ms_per_ticket": round(1e3 * worker_cpu_s / tickets, 2),
        "redis_cpu_us_per_accepted_ticket": round(1e6 * intake.redis_s / tickets, 1),
        "redis_cpu_us_per_triaged_ticket": round(1e6 * redis_drain_s, 1),
        "redis_cpu_us_per_ticket": round(redis_us, 1),
        "redis_limit_tickets_per_s": round(1e6 / redis_us) if redis_us and math.isfinite(redis_us) else None,
    }


def run(quick: bool, tickets: int, rabbitmq_url: str) -> dict[str, Any]:
    machine = c.machine_info()
    setups: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for name, api_processes, workers, rabbit in SETUPS:
        why_not = purge_rabbitmq(rabbitmq_url) if rabbit else None
        if why_not:
            skipped[name] = f"RabbitMQ at {rabbitmq_url} is not usable: {why_not}"
            c.log(f"{name}: skipped ({why_not})")
            continue
        load = round(os.getloadavg()[0], 2)
        setups[name] = {
            "load_average_1m": load,
            **run_setup(name, api_processes, workers, rabbitmq_url if rabbit else None, tickets),
        }
    return summarise(machine, quick, tickets, setups, skipped)


def summarise(
    machine: dict, quick: bool, tickets: int, setups: dict[str, Any], skipped: dict[str, str]
) -> dict[str, Any]:
    ratios = {}
    if "api1" in setups and "api2" in setups:
        ratios["intake_2_vs_1_api_processes"] = c.ratio(
            setups["api2"]["intake_tickets_per_s"], setups["api1"]["intake_tickets_per_s"]
        )
    if "api2" in setups and "workers2" in setups:
        ratios["drain_2_vs_1_workers"] = c.ratio(
            setups["workers2"]["worker_tickets_per_s"], setups["api2"]["worker_tickets_per_s"]
        )
    if "api2" in setups and "rabbitmq" in setups:
        ratios["drain_rabbitmq_vs_redis"] = c.ratio(
            setups["rabbitmq"]["worker_tickets_per_s"], setups["api2"]["worker_tickets_per_s"]
        )
        ratios["redis_cpu_rabbitmq_vs_redis"] = c.ratio(
            setups["rabbitmq"]["redis_cpu_us_per_ticket"], setups["api2"]["redis_cpu_us_per_ticket"]
        )
    return {
        "benchmark": "scale",
        "quick": quick,
        "machine": machine,
        "tickets": tickets,
        "setups": setups,
        "skipped": skipped,
        "ratios": ratios,
    }


def render(result: dict[str, Any]) -> str:
    lines = [c.machine_text(result["machine"]), "", f"{result['tickets']} tickets per setup"]
    for name, s in result["setups"].items():
        lines.append(
            f"{name} ({s['api_processes']} API, {s['worker_processes']} worker(s), {s['broker']} broker; "
            f"load {s['load_average_1m']}): intake {s['intake_tickets_per_s']} tickets/s, API "
            f"{s['api_cpu_us_per_ticket']} µs CPU/ticket; drain {s['worker_tickets_per_s']} tickets/s, "
            f"workers {s['worker_cpu_ms_per_ticket']} ms CPU/ticket; Redis CPU per ticket "
            f"{s['redis_cpu_us_per_accepted_ticket']} µs accept + {s['redis_cpu_us_per_triaged_ticket']} µs "
            f"triage = {s['redis_cpu_us_per_ticket']} µs (one Redis core: {s['redis_limit_tickets_per_s']} "
            "tickets/s)"
        )
    lines += [f"{name}: skipped, {why}" for name, why in result["skipped"].items()]
    lines.append(f"Ratios: {result['ratios']}")
    return "\n".join(lines)


def main() -> None:
    def extra(parser: Any) -> None:
        parser.add_argument("--tickets", type=int, default=None, help="tickets per setup (default 2000)")
        parser.add_argument(
            "--rabbitmq-url", default=DEFAULT_RABBITMQ_URL, help=f"RabbitMQ (default {DEFAULT_RABBITMQ_URL})"
        )

    args = c.parse_args("MVR scale-out: API and worker processes on one Redis, RabbitMQ, Redis CPU.", extra)
    tickets = args.tickets or (150 if args.quick else 2000)
    c.emit(run(args.quick, tickets, args.rabbitmq_url), args.json, render)


if __name__ == "__main__":
    main()
