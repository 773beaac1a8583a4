"""Check that a TCP port is free before starting a server on it."""

from __future__ import annotations

import errno
import socket

from mvr.errors import ResourceBusy

__all__ = ["require_free_port"]


def require_free_port(host: str, port: int, needed_by: str, hint: str) -> None:
    """Raise ``ResourceBusy`` if ``host:port`` cannot be bound, as the server would bind it.

    Args:
        host: Interface the server listens on.
        port: TCP port.
        needed_by: What will listen there, for the message (e.g. "the API").
        hint: How to pick another port (e.g. "pass --port").
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # Like gunicorn and Dramatiq's metrics server: TIME_WAIT leftovers do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as ex:
            if ex.errno != errno.EADDRINUSE:
                raise ResourceBusy(f"cannot listen on {host}:{port} for {needed_by}: {ex.strerror}") from None
            raise ResourceBusy(
                f"port {port} on {host} is already in use, so {needed_by} cannot start; "
                f"stop what listens there or {hint}"
            ) from None
