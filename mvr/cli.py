"""The ``mvr`` command: run MVR (up, api, worker) and use its models and alerts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

import click

from mvr.config import ConfigError, Settings, load_settings

__all__ = ["main"]

#: Seconds each child gets to stop after SIGTERM before it is killed.
STOP_GRACE_S = 15.0


@click.group()
def main() -> None:
    """MVR, the Minimum Viable Router: support tickets in, most urgent first."""


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as ex:
        raise click.UsageError(str(ex)) from ex


def _require_redis(settings: Settings) -> None:
    if settings.redis_url is None:
        raise click.UsageError("REDIS_URL is not set: run `mvr up` (embedded Redis) or set REDIS_URL.")


def api_command(settings: Settings, host: str, port: int) -> list[str]:
    """Return the gunicorn command line that serves the API."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "mvr.web.app:create_app()",
        "--worker-class",
        "uvicorn_worker.UvicornWorker",
        "--workers",
        str(settings.api_workers),
        "--bind",
        f"{host}:{port}",
        "--no-control-socket",
        "--access-logfile",
        "-" if os.environ.get("MVR_ACCESS_LOG") else "/dev/null",
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


def _api_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="mvr-api-metrics-"))
    return env


def _worker_env(settings: Settings) -> dict[str, str]:
    """Environment for `dramatiq`: MVR's and Dramatiq's metrics in one directory, served locally."""
    env = dict(os.environ)
    metrics_dir = env.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="mvr-worker-metrics-"))
    env.update(
        dramatiq_prom_db=metrics_dir,
        dramatiq_prom_host="127.0.0.1",
        dramatiq_prom_port=str(settings.worker_metrics_port),
    )
    return env


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, help="HTTP port.")
def api(host: str, port: int) -> None:
    """Serve the HTTP API (gunicorn with uvicorn workers)."""
    settings = _settings()
    _require_redis(settings)
    command = api_command(settings, host, port)
    os.execve(sys.executable, command, _api_env())


@main.command()
def worker() -> None:
    """Run the triage and alert workers (same as `dramatiq mvr.actors`)."""
    settings = _settings()
    _require_redis(settings)
    command = worker_command(settings)
    os.execve(sys.executable, command, _worker_env(settings))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, help="HTTP port.")
def up(host: str, port: int) -> None:
    """Start everything: embedded Redis (if REDIS_URL is unset), the API and a worker."""
    settings = _settings()
    redis_server = None
    if settings.redis_url is None:
        from mvr.embedded import DATA_DIR, EmbeddedRedis

        redis_server = EmbeddedRedis()
        os.environ["REDIS_URL"] = redis_server.url
        click.echo(f"Embedded Redis at {redis_server.url} (data in ./{DATA_DIR}/, AOF on)")
        settings = _settings()
    children = _start_children(settings, host, port)
    click.echo(f"MVR API: http://{host}:{port}  (Swagger UI: http://{host}:{port}/docs)")
    click.echo("Press Ctrl-C to stop.")
    try:
        _wait_for_first_exit(children)
    finally:
        _stop_all(children)
        if redis_server is not None:
            redis_server.stop()
            click.echo("Embedded Redis stopped.")


@main.command("slack-test")
def slack_test() -> None:
    """Post one test message to SLACK_WEBHOOK_URL and say whether it arrived."""
    from mvr.slack import slack_test as post_test_message

    sys.exit(post_test_message(_settings()))


def _start_children(settings: Settings, host: str, port: int) -> list[subprocess.Popen[bytes]]:
    # Own sessions: a terminal Ctrl-C reaches only `mvr up`, which stops them in order.
    api_process = subprocess.Popen(api_command(settings, host, port), env=_api_env(), start_new_session=True)
    worker_process = subprocess.Popen(
        worker_command(settings), env=_worker_env(settings), start_new_session=True
    )
    return [api_process, worker_process]


def _wait_for_first_exit(children: Sequence[subprocess.Popen[bytes]]) -> None:
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.2)
        click.echo("A child process exited; stopping MVR.", err=True)
    except KeyboardInterrupt:
        click.echo("Stopping MVR...")


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop_all(children: Sequence[subprocess.Popen[bytes]]) -> None:
    """Stop children in order (API first, so no ticket arrives for a stopped worker)."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
