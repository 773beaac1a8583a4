"""One MVR per data directory: an advisory lock held for the life of `mvr up`.

``fcntl.flock`` on ``<data dir>/mvr.lock``: the kernel releases it when the last process
holding it exits, however it exits, so a crash leaves no stale lock behind. `mvr up` hands
the lock to its embedded Redis process too, so the lock lives exactly as long as a server
may write to the directory's files.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from mvr.errors import ResourceBusy

__all__ = ["LOCK_FILE", "DataDirLock"]

#: Name of the lock file inside the data directory.
LOCK_FILE = "mvr.lock"


class DataDirLock:
    """An exclusive lock on a data directory, taken at once or not at all."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> DataDirLock:
        """Take the lock and write this process's id into the lock file.

        Raises:
            ResourceBusy: Another process holds the lock (the message names its pid).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ResourceBusy(
                f"another `mvr up` (pid {holder}) is running on {self.path.parent.resolve()}; "
                "stop it first or start this one in another directory"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def fileno(self) -> int:
        """The locked file descriptor (pass it to a child to keep the lock while it runs)."""
        if self._fd is None:
            raise RuntimeError("the data directory lock is not held")
        return self._fd

    def release(self) -> None:
        """Release the lock (children that inherited it still hold it until they exit)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
