"""The ``mvr`` command: run MVR (up, api, worker) and use its models and alerts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mvr.cli_people import PEOPLE_COMMANDS, cli_settings
from mvr.config import BACKENDS, ConfigError, Settings, load_settings
from mvr.datadir import DataDirLock
from mvr.errors import ResourceBusy, StoreUnavailable
from mvr.ports import require_free_port
from mvr.processes import die_with_parent, stop_process
from mvr.store import TicketStore, connect

if TYPE_CHECKING:
    from mvr.inference.engine import Engine

__all__ = ["api_command", "main", "worker_command", "worker_env"]

#: Seconds each child gets to stop after SIGTERM before it is killed.
STOP_GRACE_S = 15.0
#: Seconds `mvr up` waits for the API to listen and a worker to load its model.
READY_TIMEOUT_S = 180.0


@click.group()
@click.version_option(package_name="mvr", prog_name="mvr")
def main() -> None:
    """MVR, the Minimum Viable Router: support tickets in, most urgent first.

    Run it with `up` (or `api` and `worker`); work tickets with `submit`, `queue`, `next`,
    `show`, `resolve`, `requeue` and `correct` (against MVR_URL, with MVR_API_KEY).
    """


for _command in PEOPLE_COMMANDS:
    main.add_command(_command)

_settings = cli_settings


def _require_redis(settings: Settings) -> None:
    if settings.redis_url is None:
        raise click.UsageError("REDIS_URL is not set: run `mvr up` (embedded Redis) or set REDIS_URL.")


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
        "--access-logfile",
        "-" if settings.access_log else "/dev/null",
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


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, help="HTTP port.")
def api(host: str, port: int) -> None:
    """Serve the HTTP API (gunicorn with uvicorn workers)."""
    settings = _settings()
    _require_redis(settings)
    _require_free_ports(settings, (host, port), worker=False)
    command = api_command(settings, host, port)
    os.execve(sys.executable, command, _api_env())


@main.command()
def worker() -> None:
    """Run the triage and alert workers (same as `dramatiq mvr.actors`)."""
    settings = _settings()
    _require_redis(settings)
    _require_free_ports(settings, None, worker=True)
    command = worker_command(settings)
    os.execve(sys.executable, command, worker_env(settings, os.environ))


@main.command()
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


@main.command("slack-test")
def slack_test() -> None:
    """Post one test message to SLACK_WEBHOOK_URL and say whether it arrived."""
    from mvr.slack import NOTHING_SENT, OK_MESSAGE, redact_http_logs, redact_webhook, send_test_message

    try:
        settings = load_settings()
    except ConfigError as ex:
        raise click.UsageError(f"{ex}. {NOTHING_SENT}") from ex
    redact_http_logs()
    if settings.slack_webhook_url:
        click.echo(f"Posting a test message to {redact_webhook(settings.slack_webhook_url)}")
    failure = send_test_message(settings)
    if failure is not None:
        click.echo(f"FAILED: {failure}", err=True)
        sys.exit(1)
    click.echo(OK_MESSAGE)


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


# Models: classify, eval, fit (workers' inference code, imported only when these commands run) ------

#: Deterministic halves of a CSV file (by SHA-256 of each row's text), for fit-on-one, eval-on-other.
_SPLITS = ("half-a", "half-b")


def _engine(
    backend: str | None, head: Path | None = None, *, strict: bool = False, one_encoder: bool = False
) -> Engine:
    """Build the inference engine; with ``strict``, a baseline fallback is an error, not an answer.

    ``one_encoder`` reads every ticket with ``MVR_ENCODER`` (no language routing), as a head fitted
    on its embeddings needs.
    """
    from dataclasses import replace

    from mvr.inference.engine import Engine

    settings = _settings()
    if one_encoder:
        settings = replace(settings, multilingual_encoder="off")
    if backend is not None:
        settings = replace(settings, backend=backend)
    if head is not None:
        settings = replace(settings, category_head=head)
    engine = Engine.from_settings(settings)
    if strict and engine.fallback_reason is not None:
        engine.close()
        raise click.ClickException(f"{settings.backend} backend unavailable: {engine.fallback_reason}")
    return engine


class _ProgressBar:
    """A click progress bar on stderr, opened on the first ``(done_now, total)`` report."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._bar: Any = None

    def __call__(self, done_now: int, total: int) -> None:
        if self._bar is None:
            self._bar = click.progressbar(length=total, label=self._label, file=sys.stderr)
            self._bar.__enter__()
        self._bar.update(done_now)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def _run_with_bar(label: str, run: Callable[[_ProgressBar], dict[str, Any]]) -> dict[str, Any]:
    bar = _ProgressBar(label)
    try:
        return run(bar)
    finally:
        bar.close()


@main.command()
@click.argument("text")
@click.option("--backend", type=click.Choice(BACKENDS), help="Override MVR_BACKEND.")
def classify(text: str, backend: str | None) -> None:
    """Print the decision (category, urgency S, explanation) for TEXT as JSON."""
    engine = _engine(backend)
    try:
        click.echo(json.dumps(engine.decide(text).to_dict(), indent=2))
    finally:
        engine.close()


@main.group("eval")
def eval_group() -> None:
    """Measure the models on labelled CSV files."""


_csv_argument = click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
_json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


@eval_group.command("tickets")
@_csv_argument
@_json_option
@click.option("--backend", type=click.Choice(BACKENDS), help="Override MVR_BACKEND.")
@click.option("--split", type=click.Choice(_SPLITS), help="Only this half of the rows (by row hash).")
@click.option(
    "--head",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Category head from `mvr fit` (overrides MVR_CATEGORY_HEAD).",
)
def eval_tickets_command(
    csv_file: Path, as_json: bool, backend: str | None, split: str | None, head: Path | None
) -> None:
    """Routing quality on CSV_FILE (columns subject, body, category): accuracy, F1, confusion."""
    from mvr.inference.evaluation import eval_tickets

    engine = _engine(backend, head, strict=(backend or _settings().backend) != "baseline")
    try:
        report = _run_with_bar(
            "Classifying", lambda bar: eval_tickets(csv_file, engine.backend, half=_half(split), progress=bar)
        )
        method = getattr(engine.backend, "category_method", None)
    finally:
        engine.close()
    report = {
        "file": str(csv_file),
        "split": split,
        "backend": engine.backend_name,
        "category_method": method,
        **report,
    }
    click.echo(json.dumps(report) if as_json else _tickets_table(report))


@eval_group.command("sentiment")
@_csv_argument
@_json_option
@click.option("--backend", type=click.Choice(("embedding", "nli")), help="Override MVR_BACKEND.")
def eval_sentiment_command(csv_file: Path, as_json: bool, backend: str | None) -> None:
    """Sentiment quality on CSV_FILE (columns text, sentiment): ROC AUC of P(negative)."""
    from mvr.inference.evaluation import eval_sentiment

    result = _auc_report(csv_file, _engine(backend, strict=True), eval_sentiment)
    click.echo(
        json.dumps(result)
        if as_json
        else f"{result['rows']} rows ({result['negative']} negative), backend {result['backend']}: "
        f"ROC AUC of P(negative) = {result['auc']:.4f}"
    )


@eval_group.command("urgency")
@_csv_argument
@_json_option
@click.option("--backend", type=click.Choice(BACKENDS), help="Override MVR_BACKEND.")
def eval_urgency_command(csv_file: Path, as_json: bool, backend: str | None) -> None:
    """Urgency quality on CSV_FILE (column priority): ROC AUC of S for critical/high vs the rest."""
    from mvr.inference.evaluation import eval_urgency

    engine = _engine(backend, strict=(backend or _settings().backend) != "baseline")
    result = _auc_report(csv_file, engine, eval_urgency)
    click.echo(
        json.dumps(result)
        if as_json
        else f"{result['rows']} rows with a priority ({result['urgent']} critical/high), backend "
        f"{result['backend']}: ROC AUC of S = {result['auc']:.4f}"
    )


def _auc_report(csv_file: Path, engine: Engine, evaluate: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """Run one AUC evaluation with a progress bar, then close the engine."""
    try:
        result = _run_with_bar("Scoring", lambda bar: evaluate(csv_file, engine.backend, progress=bar))
    finally:
        engine.close()
    return {"file": str(csv_file), "backend": engine.backend_name, **result}


def _corrections() -> list[dict[str, str]]:
    """Return the corrections recorded in Redis (``REDIS_URL``) as labelled rows."""
    from mvr.corrections import correction_rows

    settings = _settings()
    _require_redis(settings)
    try:
        return correction_rows(TicketStore(connect(settings), settings))
    except StoreUnavailable as ex:
        raise click.ClickException(str(ex)) from ex


@main.command("export-corrections")
@click.argument("csv_out", type=click.Path(dir_okay=False, path_type=Path))
def export_corrections(csv_out: Path) -> None:
    """Write the corrections people recorded to CSV_OUT (columns subject, body, category, ...)."""
    from mvr.corrections import CSV_COLUMNS, write_csv

    count = write_csv(_corrections(), csv_out)
    click.echo(f"Wrote {count} corrections to {csv_out} (columns {', '.join(CSV_COLUMNS)}).")


@main.command()
@click.argument("csv_file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the head (.npz); point MVR_CATEGORY_HEAD at it.",
)
@click.option("--split", type=click.Choice(_SPLITS), help="Fit on this half of the rows only (by row hash).")
@click.option(
    "--from-corrections", is_flag=True, help="Also learn from the corrections recorded in Redis (REDIS_URL)."
)
def fit(csv_file: Path | None, out: Path, split: str | None, from_corrections: bool) -> None:
    """Learn a linear category head from labelled tickets (CSV_FILE: columns subject, body, category)."""
    with tempfile.TemporaryDirectory(prefix="mvr-fit-") as tmp:
        if from_corrections:
            labelled = _with_corrections(csv_file, Path(tmp) / "labelled.csv")
        elif csv_file is not None:
            labelled = csv_file
        else:
            raise click.UsageError("give a CSV_FILE, --from-corrections, or both")
        result = _fit_head(labelled, out, split)
    click.echo(
        f"Fitted on {result['rows']} rows, classes {', '.join(result['classes'])}, "
        f"train accuracy {result['train_accuracy']:.4f}."
    )
    click.echo(f"Wrote {out}; set MVR_CATEGORY_HEAD={out} to use it.")


def _with_corrections(csv_file: Path | None, merged: Path) -> Path:
    """Write the rows of ``csv_file`` (if any) and every recorded correction to ``merged``."""
    from mvr.corrections import write_csv
    from mvr.inference.evaluation import read_rows

    corrections = _corrections()
    if not corrections:
        raise click.ClickException("no corrections are recorded (POST /tickets/{id}/category records one)")
    rows = (read_rows(csv_file) if csv_file else []) + corrections
    write_csv(rows, merged, ("subject", "body", "category"))
    return merged


def _fit_head(csv_file: Path, out: Path, split: str | None) -> dict[str, Any]:
    from mvr.inference.engine import EmbeddingBackend
    from mvr.inference.evaluation import fit_head

    engine = _engine("embedding", strict=True, one_encoder=True)
    backend = engine.backend
    assert isinstance(backend, EmbeddingBackend)  # strict: no baseline fallback
    try:
        return _run_with_bar(
            "Embedding", lambda bar: fit_head(csv_file, out, backend.embed, half=_half(split), progress=bar)
        )
    finally:
        engine.close()


@eval_group.command("corrections")
@_json_option
@click.option("--backend", type=click.Choice(BACKENDS), help="Override MVR_BACKEND.")
@click.option(
    "--head",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Category head from `mvr fit` (overrides MVR_CATEGORY_HEAD).",
)
def eval_corrections_command(as_json: bool, backend: str | None, head: Path | None) -> None:
    """How often MVR agreed with people: at triage, and on re-triage with today's model."""
    from mvr.corrections import agreement, write_csv
    from mvr.inference.evaluation import eval_tickets

    rows = _corrections()
    report: dict[str, Any] = {"at_triage": agreement(rows)}
    if rows:
        engine = _engine(backend, head, strict=(backend or _settings().backend) != "baseline")
        try:
            with tempfile.TemporaryDirectory(prefix="mvr-eval-") as tmp:
                csv_file = Path(tmp) / "corrections.csv"
                write_csv(rows, csv_file)
                now = _run_with_bar(
                    "Classifying", lambda bar: eval_tickets(csv_file, engine.backend, progress=bar)
                )
        finally:
            engine.close()
        report["now"] = {"backend": engine.backend_name, "head": str(head) if head else None, **now}
    click.echo(json.dumps(report) if as_json else _corrections_summary(report))


def _corrections_summary(report: dict[str, Any]) -> str:
    triage = report["at_triage"]
    if not triage["corrections"]:
        return "No corrections are recorded."
    lines = [
        f"{triage['corrections']} corrections; MVR's category agreed with people on {triage['agreed']} "
        f"at triage ({triage['agreement']:.1%}).",
        "Most frequent changes: "
        + ", ".join(f"{pair} ({n})" for pair, n in list(triage["pairs"].items())[:5]),
    ]
    now = report["now"]
    lines.append(
        f"Re-classified now (backend {now['backend']}{', head ' + now['head'] if now['head'] else ''}): "
        f"agrees on {now['accuracy']:.1%}, macro-F1 {now['macro_f1']:.4f}."
    )
    return "\n".join(lines)


def _half(split: str | None) -> str | None:
    return split.removeprefix("half-") if split else None


def _tickets_table(report: dict[str, Any]) -> str:
    lines = [
        f"{report['rows']} rows{' (' + report['split'] + ')' if report['split'] else ''}, "
        f"backend {report['backend']} ({report['category_method'] or 'keywords'}): "
        f"accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}",
        f"{'class':<14}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}",
    ]
    for label, m in report["per_class"].items():
        lines.append(
            f"{label:<14}{m['precision']:>10.4f}{m['recall']:>10.4f}{m['f1']:>10.4f}{m['support']:>10}"
        )
    lines.append("confusion (rows: true, columns: predicted): " + ", ".join(report["labels"]))
    lines += [
        f"{label:<14}" + "".join(f"{n:>8}" for n in row)
        for label, row in zip(report["labels"], report["confusion"], strict=True)
    ]
    return "\n".join(lines)
