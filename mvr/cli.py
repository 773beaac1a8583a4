"""The ``mvr`` command: its group, and `mvr slack-test`; the other commands live in ``mvr.cli_*``.

- ``mvr.cli_run``: `up`, `api`, `worker` (start and stop MVR's processes);
- ``mvr.cli_models``: `classify`, `eval`, `fit`, `export-corrections` (the models);
- ``mvr.cli_people``: `submit`, `queue`, `next`, `show`, `resolve`, `requeue`, `correct` (over HTTP).
"""

from __future__ import annotations

import sys

import click

from mvr.cli_models import MODEL_COMMANDS
from mvr.cli_people import PEOPLE_COMMANDS
from mvr.cli_run import RUN_COMMANDS
from mvr.config import load_settings
from mvr.errors import ConfigError

__all__ = ["main"]


@click.group()
@click.version_option(package_name="mvr", prog_name="mvr")
def main() -> None:
    """MVR, the Minimum Viable Router: support tickets in, most urgent first.

    Run it with `up` (or `api` and `worker`); work tickets with `submit`, `queue`, `next`,
    `show`, `resolve`, `requeue` and `correct` (against MVR_URL, with MVR_API_KEY).
    """


for _command in (*RUN_COMMANDS, *MODEL_COMMANDS, *PEOPLE_COMMANDS):
    main.add_command(_command)


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
