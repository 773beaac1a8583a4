"""`mvr up`, `mvr api` and `mvr worker`: start MVR's processes, check what they need, stop them in order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence

import click

from mvr.cli_common import cli_settings as _settings
from mvr.cli_common import require_redis
from mvr.config import Settings
from mvr.datadir import DataDirLock
from mvr.errors import ResourceBusy, StoreUnavailable
from mvr.ports import require_free_port
from mvr.processes import die_with_parent, stop_process
from mvr.store import TicketStore, connect

__all__ = ["RUN_COMMANDS", "api_command", "worker_command", "worker_env"]

#: Seconds each child gets to stop after SIGTERM before it is killed.
STOP_GRACE_S = 15.0
#: Seconds `mvr up` waits for the API to listen and a worker to load its model.
READY_TIMEOUT_S = 180.0


def _require_free_ports(settings: Settings, api_at: tuple[str, int] | None, worker: bool) -> None:
    """Stop with a one-line error, before anything starts, if a port MVR needs is taken."""
    try:
        if api_at is not None:
            require_free_port(*api_at, needed_by="the API", hint="pass another --port")
        if worker:
            require_free_port(
                "127.0.0.1",
                settings.worker_metrics_port,
                needed_by="the workers' metrics endpoint",
                hint="set MVR_WORKER_METRICS_PORT",
            )
    except ResourceBusy as ex:
        raise click.ClickException(str(ex)) from ex


def api_command(settings: Settings, host: str, port: int) -> list[str]:
    """Return the gunicorn command line that serves the API."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "mvr.web.app:create_app()",
        "--worker-class",
        "mvr.web.server.MvrUvicornWorker",
        "--workers",
        str(settings.api_workers),
        "--bind",
        f"{host}:{port}",
        "--no-control-socket",
        # Off, uvicorn never writes an access line (MvrUvicornWorker), so gunicorn needs no log file.
        *(["--access-logfile", "-"] if settings.access_log else []),
    ]


def worker_command(settings: Settings) -> list[str]:
    """Return the Dramatiq command line that runs the workers."""
    return [
        sys.executable,
        "-m",
        "dramatiq",
        "mvr.actors",
        "--processes",
        str(settings.worker_processes),
        "--threads",
        str(settings.worker_threads),
    ]


def _env_with_metrics_dir(prefix: str, base: Mapping[str, str]) -> dict[str, str]:
    """Return ``base`` with PROMETHEUS_MULTIPROC_DIR set (a new directory when unset)."""
    env = dict(base)
    if not env.get("PROMETHEUS_MULTIPROC_DIR"):
        env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=prefix)
    return env


def _api_env() -> dict[str, str]:
    return _env_with_metrics_dir("mvr-api-metrics-", os.environ)


def worker_env(settings: Settings, base: Mapping[str, str]) -> dict[str, str]:
    """Environment for `dramatiq`: MVR's and Dramatiq's metrics in one directory, served locally."""
    env = _env_with_metrics_dir("mvr-worker-metrics-", base)
    env.update(
        dramatiq_prom_db=env["PROMETHEUS_MULTIPROC_DIR"],
        dramatiq_prom_host="127.0.0.1",
        dramatiq_prom_port=str(settings.worker_metrics_port),
        dramatiq_worker_timeout=str(settings.worker_poll_ms),
    )
    return env


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, help="HTTP port.")
def api(host: str, port: int) -> None:
    """Serve the HTTP API (gunicorn with uvicorn workers)."""
    settings = _settings()
    require_redis(settings)
    _require_free_ports(settings, (host, port), worker=False)
    command = api_command(settings, host, port)
    os.execve(sys.executable, command, _api_env())


@click.command()
def worker() -> None:
    """Run the triage and alert workers (same as `dramatiq mvr.actors`)."""
    settings = _settings()
    require_redis(settings)
    _require_free_ports(settings, None, worker=True)
    command = worker_command(settings)
    os.execve(sys.executable, command, worker_env(settings, os.environ))


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, help="HTTP port.")
def up(host: str, port: int) -> None:
    """Start everything: embedded Redis (if REDIS_URL is unset), the API and a worker.

    Refuses to start, with a one-line error, when another `mvr up` runs on the same data
    directory or a port it needs is taken.
    """
    settings = _settings()
    lock = _lock_data_dir() if settings.redis_url is None else None
    _require_free_ports(settings, (host, port), worker=True)
    redis_server = None
    if lock is not None:
        from mvr.embedded import DATA_DIR, EmbeddedRedis

        redis_server = EmbeddedRedis(lock)
        os.environ["REDIS_URL"] = redis_server.url
        click.echo(f"Embedded Redis at {redis_server.url} (data in ./{DATA_DIR}/, AOF on)")
        settings = _settings()
    started = time.time()
    children = _start_children(settings, host, port)
    click.echo("Starting the API and a worker (the worker loads the model)...")
    # SIGINT too: a shell starts background jobs with SIGINT ignored, and Python then never
    # turns it into KeyboardInterrupt; `kill -INT` must stop MVR however it was started.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _raise_keyboard_interrupt)
    try:
        _wait_until_ready(settings, f"http://{host}:{port}", started, children)
        click.echo(f"MVR API: http://{host}:{port}  (Swagger UI: http://{host}:{port}/docs)")
        click.echo(f"Worker metrics: http://127.0.0.1:{settings.worker_metrics_port}/")
        click.echo("MVR is ready. Press Ctrl-C to stop.")
        _wait_for_first_exit(children)
    except KeyboardInterrupt:
        click.echo("Stopping MVR...")
    finally:
        _stop_all(children)
        if redis_server is not None:
            redis_server.stop()
            click.echo("Embedded Redis stopped.")


def _lock_data_dir() -> DataDirLock:
    """Lock the embedded Redis's data directory for this process (and the Redis process)."""
    from mvr.embedded import DATA_DIR

    try:
        return DataDirLock(DATA_DIR).acquire()
    except ResourceBusy as ex:
        raise click.ClickException(str(ex)) from ex


def _start_children(settings: Settings, host: str, port: int) -> list[subprocess.Popen[bytes]]:
    # Own sessions: a terminal Ctrl-C reaches only `mvr up`, which stops them in order.
    # die_with_parent: if `mvr up` is killed, they stop too instead of holding the ports.
    api_process = subprocess.Popen(
        api_command(settings, host, port),
        env=_api_env(),
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )
    worker_process = subprocess.Popen(
        worker_command(settings),
        env=worker_env(settings, os.environ),
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )
    return [api_process, worker_process]


def _wait_until_ready(
    settings: Settings, base_url: str, started: float, children: Sequence[subprocess.Popen[bytes]]
) -> None:
    """Return once the API answers /health and a worker started after ``started`` loaded its engine.

    Raises:
        click.ClickException: A child exited first, or READY_TIMEOUT_S passed.
    """
    import httpx

    store = TicketStore(connect(settings), settings)
    deadline = time.monotonic() + READY_TIMEOUT_S
    api_up = worker_up = False
    while not (api_up and worker_up):
        if any(child.poll() is not None for child in children):
            raise click.ClickException("a child process exited before MVR was ready; see its output above")
        if time.monotonic() > deadline:
            raise click.ClickException(f"MVR was not ready after {READY_TIMEOUT_S:g} s")
        time.sleep(0.1)
        try:
            api_up = api_up or httpx.get(f"{base_url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            pass
        worker_up = worker_up or _worker_ready(store, started)


def _worker_ready(store: TicketStore, started: float) -> bool:
    try:
        return store.worker_ready_since(started)
    except StoreUnavailable:
        return False


def _wait_for_first_exit(children: Sequence[subprocess.Popen[bytes]]) -> None:
    while all(child.poll() is None for child in children):
        time.sleep(0.2)
    click.echo("A child process exited; stopping MVR.", err=True)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop_all(children: Sequence[subprocess.Popen[bytes]]) -> None:
    """Stop children in order (API first, so no ticket arrives for a stopped worker)."""
    for child in children:
        stop_process(child, STOP_GRACE_S)


#: The commands that run MVR.
RUN_COMMANDS = (api, worker, up)
