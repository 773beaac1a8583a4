"""Stopping child processes we started: politely first, by force after a grace period."""

from __future__ import annotations

import signal
import subprocess

__all__ = ["stop_process"]


def stop_process(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """Send SIGTERM to ``process``; SIGKILL it if it is still running after ``grace_s`` seconds."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
