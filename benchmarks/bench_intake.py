"""Intake: MVR's API against three peers, driven by Locust headless, in one run.

Usage:
    .venv/bin/python benchmarks/bench_intake.py [--quick] [--json] [--users N] [--duration S]

Four servers run side by side, each with 2 processes and its own Redis (started
here on free ports of 127.0.0.1, persistence off):

(a) ``bare``: Falcon ASGI that parses the JSON and answers 202, no I/O (ceiling);
(b) ``floor``: the same plus one ``HSET`` (the least any durable accept can do);
(c) ``seed``: FastAPI on uvicorn, a pydantic model, ``redis.asyncio``,
    status hash + ``RPUSH`` in one pipelined round trip, uuid4 ids;
(d) ``mvr``: MVR's API exactly as ``mvr api`` runs it (``mvr.cli_run.api_command``).

All four run on gunicorn with 2 uvicorn workers (``uvicorn_worker.UvicornWorker``; the
peers' ``peers/quiet_worker.py`` turns uvicorn's access log off, as MVR's API does by
default), as MVR does, so only the application differs. (``uvicorn --workers 2`` served the seed
at about half the req/s of gunicorn + UvicornWorker here, with its CPU half idle; using
it would flatter MVR.) Every
phase uses the same users and duration and only POSTs tickets (Locust ``--tags
intake``, texts from ``_common.ticket_fields``):

1. peak: users send back to back; req/s, p50/p95/p99, failures, Locust's CPU (a
   peak with Locust at >= 90% of a core is marked generator-bound);
2. one fixed rate that all four sustain (half the lowest peak, Locust
   ``constant_throughput``): server CPU per accepted request in microseconds
   (utime + stime from /proc of the server's processes and its Redis);
3. MVR at 80% of its own peak: p99;
4. Redis calls per accepted MVR ticket: top-level commands seen by MONITOR while
   200 tickets are posted one by one (commands run inside Lua are not calls),
   and the INFO commandstats delta of the fixed-rate phase per ticket.

Ratios ``mvr_vs_X`` are X's CPU per request / MVR's (> 1: MVR is cheaper) and
MVR's peak / X's peak.

``--variant DIR`` adds a fifth server: MVR's API run from ``DIR`` (a copy of the
repository or of the ``mvr`` package with a tuning applied), measured in the same
interleaved phases; ``ratios.variant_vs_mvr`` is the tuning's before/after.
"""

from __future__ import annotations

import collections
import json
import random
import socket
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

SERVERS = ("bare", "floor", "seed", "mvr")
#: Fraction of the lowest peak that every server must sustain in phase 2.
FIXED_RATE_FRACTION = 0.5
#: Locust at this share of one core or more means the load generator, not the server, set the peak.
GENERATOR_BOUND = 0.9
#: Tickets posted one by one while MONITOR counts MVR's Redis calls.
MONITORED_TICKETS = 200


class Server:
    """One server under test: its URL, its Redis and the PIDs whose CPU counts."""

    def __init__(self, name: str, url: str, process: Any, redis: c.RedisServer) -> None:
        self.name = name
        self.url = url
        self.process = process
        self.redis = redis

    @property
    def groups(self) -> dict[str, list[int]]:
        """Processes whose CPU counts: the server's master (its workers are found under it), its Redis."""
        return {"api": [self.process.pid], "redis": [self.redis.pid]}


def start_server(name: str, started: c.Services, variant: Path | None = None) -> Server:
    """Start server ``name`` (with its own Redis) and wait until it answers."""
    redis = c.RedisServer(started, f"redis-{name}")
    if name in ("mvr", "variant"):
        source = variant if name == "variant" else None
        process, url = c.start_mvr_api(started, redis.url, name=f"{name}-api", source=source)
        return Server(name, url, process, redis)
    port = c.free_port()
    env = {"REDIS_URL": redis.url}
    target = "seed:app" if name == "seed" else f"{name}:create_app()"
    args = [sys.executable, "-m", "gunicorn", target, "--pythonpath", str(c.PEERS_DIR)]
    args += ["--worker-class", "quiet_worker.QuietUvicornWorker", "--workers", "2", "--no-control-socket"]
    args += ["--bind", f"127.0.0.1:{port}"]
    process = started.start(args, name, env)
    url = f"http://127.0.0.1:{port}"
    c.wait_http(f"{url}/health")
    return Server(name, url, process, redis)


def redis_calls_per_ticket(server: Server) -> tuple[float, dict[str, int]]:
    """Top-level Redis commands per ticket posted, counted with MONITOR (Lua's inner calls excluded).

    Tickets are posted once before counting so that connections are open and the
    script is loaded in both API processes: the figure is the steady state.

    Returns:
        Calls per ticket and the count of each top-level command seen.
    """
    rng = random.Random(1)
    _post_tickets(server.url, rng, MONITORED_TICKETS)
    seen: list[str] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_monitor, args=(server.redis.url, stop, seen), daemon=True)
    watcher.start()
    time.sleep(0.3)
    _post_tickets(server.url, rng, MONITORED_TICKETS)
    time.sleep(0.3)
    stop.set()
    watcher.join()
    top_level = [line for line in seen if " lua]" not in line.split('"', 1)[0]]
    names = [line.split('"', 2)[1].lower() for line in top_level]
    return c.ratio(len(names), MONITORED_TICKETS), dict(collections.Counter(names))


def _post_tickets(url: str, rng: random.Random, n: int) -> None:
    for _ in range(n):
        body = json.dumps(c.ticket_fields(rng)).encode()
        request = urllib.request.Request(
            f"{url}/tickets", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            if answer.status != 202:
                raise RuntimeError(f"POST /tickets answered {answer.status}")


def _monitor(url: str, stop: threading.Event, seen: list[str]) -> None:
    """Collect MONITOR lines (``<ts> [<db> <client>] "CMD" ...``) until ``stop`` is set."""
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"MONITOR\r\n")
        sock.settimeout(0.1)
        buffer = b""
        while not stop.is_set():
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\r\n")
            seen.extend(
                line.decode(errors="replace") for line in lines if line.startswith(b"+") and b" [" in line
            )


def commandstats(client: Any) -> dict[str, int]:
    """Calls per command name from INFO commandstats."""
    return {
        name.removeprefix("cmdstat_"): stats["calls"] for name, stats in client.info("commandstats").items()
    }


def run_peaks(started: c.Services, servers: dict[str, Server], users: int, duration_s: float) -> dict:
    peaks = {}
    for name, server in servers.items():
        c.log(f"peak: {name} ({users} users, {duration_s:g} s)")
        result = c.run_locust(
            started, server.url, users=users, duration_s=duration_s, name=f"peak-{name}", watch=server.groups
        )
        result["generator_bound"] = result["locust_cpu_cores"] >= GENERATOR_BOUND
        peaks[name] = result
    return peaks


def run_fixed(
    started: c.Services, servers: dict[str, Server], users: int, duration_s: float, rate: float, rounds: int
) -> tuple[dict, dict[str, float]]:
    """Each server at ``rate`` req/s, interleaved over ``rounds`` rounds; medians of CPU per request.

    Interleaving spreads any change in the machine's background load over all four servers.
    """
    slices: dict[str, list[dict]] = {name: [] for name in servers}
    mvr_client = servers["mvr"].redis.client()
    before, tickets_before = commandstats(mvr_client), mvr_client.zcard("mvr:pending")
    for round_no in range(rounds):
        for name, server in servers.items():
            c.log(f"fixed rate: {name} at {rate:g} req/s (round {round_no + 1} of {rounds})")
            result = c.run_locust(
                started,
                server.url,
                users=users,
                duration_s=duration_s / rounds,
                name=f"fixed-{name}-{round_no}",
                rate_per_user=rate / users,
                watch=server.groups,
            )
            for group, cores in result["watched_cpu_cores"].items():
                result[f"{group}_cpu_us_per_request"] = round(cores / result["rps"] * 1e6, 1)
            result["server_cpu_us_per_request"] = (
                result["api_cpu_us_per_request"] + result["redis_cpu_us_per_request"]
            )
            slices[name].append(result)
    fixed = {name: _combine(results, rate) for name, results in slices.items()}
    accepted = mvr_client.zcard("mvr:pending") - tickets_before
    after = commandstats(mvr_client)
    delta = {k: v - before.get(k, 0) for k, v in after.items() if k not in ("info", "zcard")}
    return fixed, {k: round(v / accepted, 3) for k, v in delta.items() if v > 0}


def _combine(results: list[dict], rate: float) -> dict[str, Any]:
    """One server's fixed-rate figures: medians over rounds, sums of counts."""
    cpu = sorted(r["server_cpu_us_per_request"] for r in results)
    return {
        "requests": sum(r["requests"] for r in results),
        "failures": sum(r["failures"] for r in results),
        "rps": round(statistics.median(r["rps"] for r in results), 1),
        "p50_ms": statistics.median(r["p50_ms"] for r in results),
        "p99_ms": max(r["p99_ms"] for r in results),
        "locust_cpu_cores": round(statistics.median(r["locust_cpu_cores"] for r in results), 3),
        "server_cpu_us_per_request": statistics.median(cpu),
        "api_cpu_us_per_request": statistics.median(r["api_cpu_us_per_request"] for r in results),
        "redis_cpu_us_per_request": statistics.median(r["redis_cpu_us_per_request"] for r in results),
        "server_cpu_us_per_request_rounds": cpu,
        "sustained": all(r["rps"] >= 0.95 * rate and r["failures"] == 0 for r in results),
    }


def run(quick: bool, users: int, duration_s: float, rounds: int, variant: Path | None) -> dict[str, Any]:
    machine = c.machine_info()
    names = (*SERVERS, "variant") if variant else SERVERS
    with c.services() as started:
        servers = {}
        for name in names:
            servers[name] = start_server(name, started, variant)
        peaks = run_peaks(started, servers, users, duration_s)
        rate = max(50.0, round(FIXED_RATE_FRACTION * min(p["rps"] for p in peaks.values()) / 50) * 50)
        fixed, stats_per_ticket = run_fixed(started, servers, users, duration_s, rate, rounds)
        mvr_80_rate = round(0.8 * peaks["mvr"]["rps"])
        c.log(f"mvr at 80% of its peak: {mvr_80_rate} req/s")
        mvr_80 = c.run_locust(
            started,
            servers["mvr"].url,
            users=users,
            duration_s=duration_s,
            name="mvr-80",
            rate_per_user=mvr_80_rate / users,
            watch=servers["mvr"].groups,
        )
        mvr_80["target_rps"] = mvr_80_rate
        c.log("counting Redis calls per ticket (MONITOR)")
        calls = redis_calls_per_ticket(servers["mvr"])
        rss = {name: max(c.vm_hwm_mb(p) for p in c.worker_pids(s.process.pid)) for name, s in servers.items()}
    params = {"users": users, "duration_s": duration_s, "fixed_rounds": rounds, "server_processes": 2}
    return summarise(machine, quick, params, peaks, fixed, rate, mvr_80, calls, stats_per_ticket, rss)


def summarise(
    machine: dict,
    quick: bool,
    params: dict,
    peaks: dict,
    fixed: dict,
    rate: float,
    mvr_80: dict,
    calls: tuple[float, dict[str, int]],
    stats_per_ticket: dict,
    rss: dict,
) -> dict[str, Any]:
    cpu = {name: f["server_cpu_us_per_request"] for name, f in fixed.items()}
    ratios = {
        "cpu_per_request": {f"mvr_vs_{o}": c.ratio(cpu[o], cpu["mvr"]) for o in ("seed", "floor", "bare")},
        "peak_rps": {
            f"mvr_vs_{o}": c.ratio(peaks["mvr"]["rps"], peaks[o]["rps"]) for o in ("seed", "floor", "bare")
        },
    }
    if "variant" in fixed:
        ratios["variant_vs_mvr"] = {
            "cpu_per_request": c.ratio(cpu["mvr"], cpu["variant"]),
            "peak_rps": c.ratio(peaks["variant"]["rps"], peaks["mvr"]["rps"]),
        }
    failures = sum(p["failures"] for p in (*peaks.values(), *fixed.values(), mvr_80))
    acceptance = {
        # issue 16's bars (each meant as the median of 3 full runs)
        "cpu_mvr_vs_seed_ge_1.5": ratios["cpu_per_request"]["mvr_vs_seed"] >= 1.5,
        "cpu_mvr_vs_floor_ge_0.85": ratios["cpu_per_request"]["mvr_vs_floor"] >= 0.85,
        "one_redis_call_per_ticket": calls[0] == 1.0,
        "mvr_p99_at_80pct_peak_lt_25ms": mvr_80["p99_ms"] < 25,
        "zero_failed_requests": failures == 0,
    }
    return {
        "benchmark": "intake",
        "quick": quick,
        "machine": machine,
        "settings": params,
        "peak": peaks,
        "fixed_rate_rps": rate,
        "fixed": fixed,
        "ratios": ratios,
        "mvr_at_80pct_peak": mvr_80,
        "redis_calls_per_ticket": calls[0],
        "redis_top_level_commands": calls[1],
        "redis_commandstats_per_ticket": stats_per_ticket,
        "worker_peak_rss_mb": rss,
        "failed_requests": failures,
        "acceptance": acceptance,
    }


def render(result: dict[str, Any]) -> str:
    lines = [c.machine_text(result["machine"]), ""]
    lines.append(
        f"{'server':<6} {'peak req/s':>10} {'p50':>5} {'p95':>5} {'p99':>5} {'fail':>5} {'locust':>7}  "
        f"{'CPU µs/req (API+Redis) @ ' + str(result['fixed_rate_rps']) + ' req/s':>38}"
    )
    for name in result["peak"]:
        p, f = result["peak"][name], result["fixed"][name]
        bound = " (generator-bound)" if p["generator_bound"] else ""
        lines.append(
            f"{name:<6} {p['rps']:>10.0f} {p['p50_ms']:>5.0f} {p['p95_ms']:>5.0f} {p['p99_ms']:>5.0f} "
            f"{p['failures']:>5} {p['locust_cpu_cores']:>7.2f}  "
            f"{f['server_cpu_us_per_request']:>18.0f} ({f['api_cpu_us_per_request']:.0f}"
            f"+{f['redis_cpu_us_per_request']:.0f}){bound}"
        )
    m80 = result["mvr_at_80pct_peak"]
    lines += [
        "",
        f"Ratios (CPU/request, other ÷ MVR): {result['ratios']['cpu_per_request']}",
        f"Ratios (peak req/s, MVR ÷ other): {result['ratios']['peak_rps']}",
        f"Tuning variant ÷ MVR (>1: the variant is better): {result['ratios'].get('variant_vs_mvr')}",
        f"MVR at 80% of peak ({m80['target_rps']} req/s): "
        f"got {m80['rps']:.0f} req/s, p99 {m80['p99_ms']:.0f} ms",
        f"Redis calls per accepted ticket: {result['redis_calls_per_ticket']} "
        f"({result['redis_top_level_commands']} for {MONITORED_TICKETS} tickets; "
        f"commandstats per ticket: {result['redis_commandstats_per_ticket']})",
        f"Worker peak RSS (MiB): {result['worker_peak_rss_mb']}",
        f"Failed requests: {result['failed_requests']}",
        f"Acceptance: {result['acceptance']}",
    ]
    return "\n".join(lines)


def main() -> None:
    def extra(parser: Any) -> None:
        parser.add_argument("--users", type=int, default=None, help="Locust users (default 64; quick 32)")
        parser.add_argument("--duration", type=float, default=None, help="seconds per phase (default 20)")
        parser.add_argument(
            "--variant",
            default=None,
            help="directory with a modified copy of the mvr package: run it as a fifth server to compare",
        )
        parser.add_argument("--rounds", type=int, default=None, help="fixed-rate rounds (default 3; quick 1)")

    args = c.parse_args("MVR intake against bare, floor and seed peers (Locust).", extra)
    users = args.users or (32 if args.quick else 64)
    duration_s = args.duration or (3.0 if args.quick else 20.0)
    rounds = args.rounds or (1 if args.quick else 3)
    variant = Path(args.variant).resolve() if args.variant else None
    result = run(args.quick, users, duration_s, rounds, variant)
    c.emit(result, args.json, render)


if __name__ == "__main__":
    main()
