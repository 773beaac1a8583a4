"""Post one test message to SLACK_WEBHOOK_URL, as ``mvr slack-test`` does (the original workflow).

Usage:
    .venv/bin/python scripts/test_slack_webhook.py

Reads ``SLACK_WEBHOOK_URL`` from the environment or ``.env``. Prints
"OK: Message sent to Slack. Check your channel." and exits 0 when Slack accepted
the message; prints the reason and exits 1 otherwise (an invalid setting too).
"""

from __future__ import annotations

import sys

from mvr.cli import main as mvr
from mvr.config import ConfigError, load_settings
from mvr.slack import NOTHING_SENT


def main() -> None:
    """Check the settings the way this script always did, then run `mvr slack-test`."""
    try:
        load_settings()
    except ConfigError as ex:
        print(f"FAILED: {ex}. {NOTHING_SENT}", file=sys.stderr)
        sys.exit(1)
    mvr(["slack-test"])


if __name__ == "__main__":
    main()
