"""`mvr classify`, `mvr eval`, `mvr fit` and `mvr export-corrections`: use and measure the models.

The workers' inference code is imported only when one of these commands runs.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mvr.cli_common import cli_settings as _settings
from mvr.cli_common import require_redis
from mvr.config import BACKENDS
from mvr.errors import StoreUnavailable
from mvr.store import TicketStore, connect

if TYPE_CHECKING:
    from mvr.inference.engine import Engine

__all__ = ["MODEL_COMMANDS"]

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


@click.command()
@click.argument("text")
@click.option("--backend", type=click.Choice(BACKENDS), help="Override MVR_BACKEND.")
def classify(text: str, backend: str | None) -> None:
    """Print the decision (category, urgency S, explanation) for TEXT as JSON."""
    engine = _engine(backend)
    try:
        click.echo(json.dumps(engine.decide(text).to_dict(), indent=2))
    finally:
        engine.close()


@click.group("eval")
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
    require_redis(settings)
    try:
        return correction_rows(TicketStore(connect(settings), settings))
    except StoreUnavailable as ex:
        raise click.ClickException(str(ex)) from ex


@click.command("export-corrections")
@click.argument("csv_out", type=click.Path(dir_okay=False, path_type=Path))
def export_corrections(csv_out: Path) -> None:
    """Write the corrections people recorded to CSV_OUT (columns subject, body, category, ...)."""
    from mvr.corrections import CSV_COLUMNS, write_csv

    count = write_csv(_corrections(), csv_out)
    click.echo(f"Wrote {count} corrections to {csv_out} (columns {', '.join(CSV_COLUMNS)}).")


@click.command()
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
    from mvr.inference.embedding import EmbeddingBackend
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


#: The commands that use and measure the models.
MODEL_COMMANDS = (classify, eval_group, fit, export_corrections)
