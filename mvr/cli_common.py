"""What every `mvr` command shares: reading the settings, and requiring REDIS_URL, as usage errors."""

from __future__ import annotations

import click

from mvr.config import Settings, load_settings
from mvr.errors import ConfigError

__all__ = ["cli_settings", "require_redis"]


def cli_settings() -> Settings:
    """Return the settings, or stop the command with a usage error naming the bad variable."""
    try:
        return load_settings()
    except ConfigError as ex:
        raise click.UsageError(str(ex)) from ex


def require_redis(settings: Settings) -> None:
    """Stop the command with a usage error when ``REDIS_URL`` is not set."""
    if settings.redis_url is None:
        raise click.UsageError("REDIS_URL is not set: run `mvr up` (embedded Redis) or set REDIS_URL.")
