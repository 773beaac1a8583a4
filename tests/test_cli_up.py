"""`mvr up` on a fresh directory: embedded Redis with AOF, API, worker, clean Ctrl-C, data kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from tests.conftest import free_port, wait_for


def _start_up(cwd: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(MVR_BACKEND="baseline", PYTHONUNBUFFERED="1")
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


def test_up_runs_everything_stops_cleanly_and_keeps_tickets(tmp_path: Path) -> None:
    # Given a fresh directory and no REDIS_URL
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    up = _start_up(tmp_path, port)
    try:
        wait_for(lambda: _health(base), timeout_s=60)
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
    up = _start_up(tmp_path, port)
    try:
        wait_for(lambda: _health(base), timeout_s=60)
        assert httpx.get(f"{base}/tickets/{ticket_id}/status").json()["status"] == "completed"
    finally:
        _ctrl_c(up)


def test_up_prints_its_urls_only_once_the_api_listens_and_the_model_is_loaded(tmp_path: Path) -> None:
    port = free_port()
    up = _start_up(tmp_path, port)
    lines: list[str] = []
    health_when_ready: list[bool] = []

    def read() -> None:
        assert up.stdout is not None
        for line in up.stdout:
            lines.append(line)
            if "MVR is ready" in line:
                health_when_ready.append(_health(f"http://127.0.0.1:{port}"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(lambda: health_when_ready, timeout_s=90)
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(60)
        reader.join(10)
    output = "".join(lines)
    assert health_when_ready == [True], output
    engine_at = output.index("Engine ready backend=baseline")
    url_at = output.index(f"MVR API: http://127.0.0.1:{port}")
    assert output.index("Starting the API and a worker") < engine_at < url_at < output.index("MVR is ready")
