"""Post one test message to SLACK_WEBHOOK_URL, as ``mvr slack-test`` does.

Usage:
    .venv/bin/python scripts/test_slack_webhook.py

Reads ``SLACK_WEBHOOK_URL`` from the environment or ``.env``. Prints
"OK: Message sent to Slack. Check your channel." and exits 0 when Slack accepted
the message; prints the reason and exits 1 otherwise.
"""

from __future__ import annotations

import sys

from mvr.config import ConfigError, load_settings
from mvr.slack import NOTHING_SENT, slack_test


def main() -> int:
    """Run the webhook self-test and return the exit code."""
    try:
        settings = load_settings()
    except ConfigError as ex:
        print(f"FAILED: {ex}. {NOTHING_SENT}", file=sys.stderr)
        return 1
    return slack_test(settings)


if __name__ == "__main__":
    sys.exit(main())
