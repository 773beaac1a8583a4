"""Stopping child processes we started: politely first, by force after a grace period."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

__all__ = ["stop_process"]


def stop_process(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """Send SIGTERM to ``process``; SIGKILL it if it is still running after ``grace_s`` seconds.

    When ``process`` leads its own process group (started with ``start_new_session``), the
    SIGKILL goes to the whole group, so that its own children (Dramatiq's worker processes,
    gunicorn's workers) do not outlive it.
    """
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(process.pid) == process.pid:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        process.wait()
