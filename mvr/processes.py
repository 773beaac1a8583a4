"""Child processes we start: they die with us, and stop politely first, by force after a grace period."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable

__all__ = ["die_with_parent", "stop_process"]

#: ``prctl`` option asking the kernel to signal a process when its parent dies (Linux).
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None]:
    """Return a ``preexec_fn`` making the child get SIGTERM when this process dies (Linux).

    Even a SIGKILLed parent then leaves no API, worker or Redis behind holding ports or
    files. Elsewhere this does nothing: the embedded Redis watches its parent itself.
    """
    parent = os.getpid()

    def preexec() -> None:
        if not sys.platform.startswith("linux"):
            return
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


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
