"""`mvr` commands for people working tickets: submit, queue, next, show, resolve, requeue, correct.

They talk to a running MVR over HTTP (``MVR_URL``, ``MVR_API_KEY``) and import no
ML code. Errors (MVR unreachable, an HTTP error) print one line and exit 1.
"""

from __future__ import annotations

import calendar
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from mvr.cli_common import cli_settings
from mvr.client import MvrClient
from mvr.errors import ApiError, NothingWaiting
from mvr.ticket import TEXT_FIELDS, TicketStatus, excerpt, score_text

__all__ = ["PEOPLE_COMMANDS"]

#: Seconds ``mvr submit --wait`` waits for the decision by default.
WAIT_S = 60.0
#: Characters of the subject (or excerpt) in a row of ``mvr queue``.
ROW_TEXT_CHARS = 48


def _client() -> MvrClient:
    settings = cli_settings()
    return MvrClient(settings.url, settings.api_key)


def _run(call: Callable[[MvrClient], Any]) -> Any:
    try:
        return call(_client())
    except ApiError as ex:
        raise click.ClickException(str(ex)) from ex


_json_option = click.option("--json", "as_json", is_flag=True, help="Print the status document as JSON.")


def _print_doc(doc: dict[str, Any], as_json: bool) -> None:
    click.echo(json.dumps(doc, indent=2) if as_json else _describe(doc))


@click.command()
@click.argument("text")
@click.option("--subject", help="The ticket's subject line.")
@click.option("--wait", is_flag=True, help="Wait for the decision and print it.")
@click.option("--timeout", default=WAIT_S, show_default=True, help="Seconds --wait waits.")
@_json_option
def submit(text: str, subject: str | None, wait: bool, timeout: float, as_json: bool) -> None:
    """Submit a ticket whose body is TEXT ("-" reads it from stdin); print its id."""
    body = sys.stdin.read() if text == "-" else text
    fields = {"body": body, **({"subject": subject} if subject else {})}
    ticket_id = _run(lambda c: c.submit(fields))
    if not wait:
        click.echo(ticket_id)
        return
    doc = _run(lambda c: c.wait(ticket_id, timeout))
    if as_json:
        _print_doc(doc, True)
        return
    click.echo(ticket_id)
    click.echo(_decision_line(doc))


@click.command()
@click.option("--status", type=click.Choice(list(TicketStatus)), help="Only tickets in this status.")
@click.option("--category", help="Only tickets of this category.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100), help="Rows.")
@click.option("--json", "as_json", is_flag=True, help="Print the page as JSON.")
def queue(status: str | None, category: str | None, limit: int, as_json: bool) -> None:
    """Show the queue as a table, most urgent first."""
    page = _run(lambda c: c.queue(limit, status, category))
    if as_json:
        click.echo(json.dumps(page, indent=2))
        return
    click.echo(_queue_table(page["items"], time.time()))
    click.echo(f"{len(page['items'])} of {page['total']} shown")


@click.command("next")
@_json_option
def next_ticket(as_json: bool) -> None:
    """Take the most urgent completed ticket (it becomes taken) and print it."""
    try:
        doc = _client().take_next()
    except NothingWaiting:
        click.echo("No completed ticket is waiting.", err=True)
        sys.exit(1)
    except ApiError as ex:
        raise click.ClickException(str(ex)) from ex
    _print_doc(doc, as_json)


@click.command()
@click.argument("ticket_id")
@_json_option
def show(ticket_id: str, as_json: bool) -> None:
    """Print a ticket: its status, decision, explanation and text."""
    _print_doc(_run(lambda c: c.status(ticket_id)), as_json)


@click.command()
@click.argument("ticket_id")
@_json_option
def resolve(ticket_id: str, as_json: bool) -> None:
    """Mark a taken ticket resolved."""
    _print_doc(_run(lambda c: c.act(ticket_id, "resolve")), as_json)


@click.command()
@click.argument("ticket_id")
@_json_option
def requeue(ticket_id: str, as_json: bool) -> None:
    """Put a taken ticket back into the queue."""
    _print_doc(_run(lambda c: c.act(ticket_id, "requeue")), as_json)


@click.command()
@click.argument("ticket_id")
@click.argument("category")
@click.option("--urgency", type=click.FloatRange(0, 1), help="The urgency S you would give it.")
@_json_option
def correct(ticket_id: str, category: str, urgency: float | None, as_json: bool) -> None:
    """Record the right CATEGORY (and urgency) for a ticket MVR got wrong."""
    body: dict[str, Any] = {"category": category, "urgency_score": urgency}
    _print_doc(_run(lambda c: c.act(ticket_id, "category", body)), as_json)


#: The commands this module adds to `mvr`.
PEOPLE_COMMANDS = (submit, queue, next_ticket, show, resolve, requeue, correct)


def _decision_line(doc: dict[str, Any]) -> str:
    if doc["status"] == TicketStatus.FAILED:
        return f"failed: {doc.get('failure_reason', '')}"
    return f"{doc['status']}: {_decision(doc)}"


def _decision(doc: dict[str, Any]) -> str:
    score = score_text(doc["urgency_score"])
    return f"{doc['category']}, S={score} ({doc['urgency_label']}), alert {doc['alert']}"


def _describe(doc: dict[str, Any]) -> str:
    """Render a status document as ``name: value`` lines for people."""
    lines = [f"ticket   {doc['ticket_id']}", f"status   {doc['status']}", f"created  {doc['created_at']}"]
    if "category" in doc:
        explanation = doc.get("explanation", {})
        urgency = explanation.get("urgency", {})
        lines += [
            f"decision {_decision(doc)}",
            f"cues     {', '.join(urgency.get('cues', [])) or '-'}",
            f"backend  {explanation.get('backend', '?')}"
            + (f" (fallback: {explanation.get('fallback_reason')})" if explanation.get("fallback") else ""),
        ]
    if "correction" in doc:
        c = doc["correction"]
        urgency_part = f", S={score_text(c['urgency_score'])}" if c["urgency_score"] is not None else ""
        lines.append(f"correct  {c['category']}{urgency_part} (by a person, {c['corrected_at']})")
    for name in ("taken_at", "lease_expires_at", "resolved_at"):
        if name in doc:
            lines.append(f"{name.split('_')[0]:<8} {doc[name]}")
    if doc.get("actions"):
        lines.append(f"actions  {', '.join(doc['actions'])}")
    for name in TEXT_FIELDS:
        if doc.get(name):
            lines += ["", f"{name}:", doc[name]]
    return "\n".join(lines)


def _queue_table(items: list[dict[str, Any]], now: float) -> str:
    header = f"{'S':>4}  {'LABEL':<6}  {'CATEGORY':<12}  {'STATUS':<10}  {'AGE':>5}  {'TICKET':<32}  SUBJECT"
    rows = [header]
    for item in items:
        score = score_text(item["urgency_score"]) if "urgency_score" in item else "-"
        category = item["correction"]["category"] + "*" if "correction" in item else item.get("category", "-")
        text = excerpt(item["subject"] or item["excerpt"])[:ROW_TEXT_CHARS]
        rows.append(
            f"{score:>4}  {item.get('urgency_label', '-'):<6}  {category:<12}  {item['status']:<10}  "
            f"{_age(item['created_at'], now):>5}  {item['ticket_id']:<32}  {text}"
        )
    if any("correction" in item for item in items):
        rows.append("* category corrected by a person")
    return "\n".join(rows)


def _age(created_at: str, now: float) -> str:
    """Return how long ago an ISO 8601 UTC time was: ``42s``, ``5m``, ``3h``, ``2d``."""
    created = calendar.timegm(time.strptime(created_at[:19], "%Y-%m-%dT%H:%M:%S"))
    seconds = max(0, int(now - created))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
