"""The peers' gunicorn worker: uvicorn's, with its access log off, as MVR's API runs by default.

uvicorn builds and formats an access-log record per request even when gunicorn sends it to
``/dev/null``; MVR turns it off unless ``MVR_ACCESS_LOG`` is set, so the peers do too.
"""

from __future__ import annotations

from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker


class QuietUvicornWorker(UvicornWorker):  # type: ignore[misc]  # uvicorn_worker ships no types
    """``uvicorn_worker.UvicornWorker`` without uvicorn's access log."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {**UvicornWorker.CONFIG_KWARGS, "access_log": False}
