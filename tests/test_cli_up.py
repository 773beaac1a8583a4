"""`mvr up` on a fresh directory: embedded Redis with AOF, API, worker, clean Ctrl-C, data kept."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_for


def _start_up(cwd: Path, port: int, metrics_port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(MVR_BACKEND="baseline", PYTHONUNBUFFERED="1", MVR_WORKER_METRICS_PORT=str(metrics_port))
    return subprocess.Popen(
        [sys.executable, "-m", "mvr", "up", "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # As a shell starts a background job: SIGINT ignored. Ctrl-C (SIGINT) must still stop it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )


def _serving_up(cwd: Path) -> tuple[subprocess.Popen[str], str, int, int]:
    """Start `mvr up` in ``cwd`` on free ports; once it serves, return it, its URL and its ports."""
    port, metrics_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    up = _start_up(cwd, port, metrics_port)
    try:
        wait_for(lambda: _health(base), timeout_s=60)
    except AssertionError:
        _ctrl_c(up)
        raise
    return up, base, port, metrics_port


def _ctrl_c(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    return output


def _health(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _children_of(pid: int) -> list[int]:
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in result.stdout.split()]


def _descendants_of(pid: int) -> list[int]:
    children = _children_of(pid)
    return children + [d for child in children for d in _descendants_of(child)]


def _alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def _lock_is_free(data_dir: Path) -> bool:
    fd = os.open(data_dir / "mvr.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


@contextlib.contextmanager
def _reaping(pids: list[int]) -> Iterator[None]:
    """On the way out, SIGKILL whatever of ``pids`` (processes our `mvr up` started) is left."""
    try:
        yield
    finally:
        for pid in pids:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def test_up_runs_everything_stops_cleanly_and_keeps_tickets(tmp_path: Path) -> None:
    # Given a fresh directory and no REDIS_URL
    up, base, port, metrics_port = _serving_up(tmp_path)
    try:
        children = _children_of(up.pid)
        # When a ticket is submitted
        ticket_id = httpx.post(f"{base}/tickets", json={"subject": "Server down, urgent"}).json()["ticket_id"]
        # Then the worker completes it
        doc = wait_for(
            lambda: (
                (d := httpx.get(f"{base}/tickets/{ticket_id}/status").json())["status"] == "completed" and d
            )
        )
        assert doc["urgency_label"] in {"medium", "high"}
    finally:
        output = _ctrl_c(up)
    # Ctrl-C stops every child (API, worker, Redis) and mvr up exits 0
    assert up.returncode == 0, output
    assert "Embedded Redis stopped." in output
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert (tmp_path / ".mvr" / "appendonlydir").is_dir()

    # And a restart still knows the ticket (append-only file)
    up = _start_up(tmp_path, port, metrics_port)
    try:
        wait_for(lambda: _health(base), timeout_s=60)
        assert httpx.get(f"{base}/tickets/{ticket_id}/status").json()["status"] == "completed"
    finally:
        _ctrl_c(up)


def test_up_prints_its_urls_only_once_the_api_listens_and_the_model_is_loaded(tmp_path: Path) -> None:
    port = free_port()
    up = _start_up(tmp_path, port, free_port())
    lines: list[str] = []
    ready_when_printed: list[tuple[bool, int]] = []

    def read() -> None:
        assert up.stdout is not None
        for line in up.stdout:
            lines.append(line)
            if "MVR is ready" in line:
                ready_when_printed.append(
                    (_health(f"http://127.0.0.1:{port}"), _workers_ready("".join(lines)))
                )

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(lambda: ready_when_printed, timeout_s=90)
        # The worker's own log line comes through Dramatiq's parent process, so it may trail.
        wait_for(lambda: "Engine ready backend=baseline" in "".join(lines), timeout_s=30)
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(60)
        reader.join(10)
    output = "".join(lines)
    assert ready_when_printed == [(True, 1)], output
    url_at = output.index(f"MVR API: http://127.0.0.1:{port}")
    assert output.index("Starting the API and a worker") < url_at < output.index("MVR is ready")


def _workers_ready(output: str) -> int:
    """Count the worker processes that recorded a loaded engine in the Redis `mvr up` printed."""
    import redis

    url = re.search(r"Embedded Redis at (\S+)", output)
    assert url is not None, output
    with redis.Redis.from_url(url.group(1)) as client:
        return int(client.zcard("mvr:workers:ready"))


def test_second_up_in_the_same_directory_refuses_and_the_first_keeps_serving(tmp_path: Path) -> None:
    # Given `mvr up` serving from a directory
    first, base, port, _ = _serving_up(tmp_path)
    try:
        # When a second `mvr up` starts in the same directory (on other ports)
        started = time.monotonic()
        second = _start_up(tmp_path, free_port(), free_port())
        output, _ = second.communicate(timeout=30)

        # Then it exits non-zero within seconds, naming the first one's pid, and starts nothing
        assert second.returncode != 0, output
        assert time.monotonic() - started < 10
        assert f"another `mvr up` (pid {first.pid}) is running on {tmp_path.resolve()}/.mvr" in output
        assert "MVR API" not in output and "Embedded Redis" not in output

        # And one on the first one's API port, from another directory, says the port is taken
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        third = _start_up(elsewhere, port, free_port())
        output, _ = third.communicate(timeout=30)
        assert third.returncode != 0, output
        assert f"port {port} on 127.0.0.1 is already in use, so the API cannot start" in output

        # And the first one still serves
        ticket_id = httpx.post(f"{base}/tickets", json={"body": "Still there?"}).json()["ticket_id"]
        wait_for(lambda: httpx.get(f"{base}/tickets/{ticket_id}/status").json()["status"] == "completed")
    finally:
        _ctrl_c(first)
    assert first.returncode == 0


@pytest.mark.parametrize("term_first", [False, True], ids=["SIGKILL", "SIGTERM-then-SIGKILL"])
def test_a_killed_up_leaves_neither_lock_nor_redis_and_the_next_up_starts_cleanly(
    tmp_path: Path, term_first: bool
) -> None:
    # Given `mvr up` serving a completed ticket
    up, base, port, metrics_port = _serving_up(tmp_path)
    family = _descendants_of(up.pid)
    with _reaping(family):
        ticket_id = httpx.post(f"{base}/tickets", json={"body": "Keep me"}).json()["ticket_id"]
        wait_for(lambda: httpx.get(f"{base}/tickets/{ticket_id}/status").json()["status"] == "completed")
        assert any("valkey-server" in Path(f"/proc/{p}/cmdline").read_text() for p in family)

        # When `mvr up` is SIGKILLed (or sent SIGTERM, then SIGKILL two seconds later)
        if term_first:
            up.send_signal(signal.SIGTERM)
            time.sleep(2.0)
        up.kill()
        up.communicate(timeout=30)

        # Then its embedded Valkey, API and worker stop within seconds, and the lock is free
        wait_for(lambda: not any(_alive(p) for p in family), timeout_s=20, interval_s=0.2)
        assert _lock_is_free(tmp_path / ".mvr")

        # And the next `mvr up` starts cleanly on the same data
        up = _start_up(tmp_path, port, metrics_port)
        try:
            wait_for(lambda: _health(base), timeout_s=60)
            assert httpx.get(f"{base}/tickets/{ticket_id}/status").json()["status"] == "completed"
        finally:
            output = _ctrl_c(up)
        assert up.returncode == 0, output
