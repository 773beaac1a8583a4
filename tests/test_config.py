"""Settings: environment names, defaults, validation."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from mvr.config import ConfigError, Settings, env_name

ROOT = Path(__file__).resolve().parent.parent


def test_env_example_lists_every_setting() -> None:
    example = (ROOT / ".env.example").read_text()

    missing = [env_name(f.name) for f in fields(Settings) if f"\n{env_name(f.name)}=" not in example]

    assert missing == []


def test_documented_names_of_the_original_workflow() -> None:
    assert [env_name(n) for n in ("redis_url", "slack_webhook_url", "urgency_webhook_threshold")] == [
        "REDIS_URL",
        "SLACK_WEBHOOK_URL",
        "URGENCY_WEBHOOK_THRESHOLD",
    ]
    assert env_name("api_key") == "MVR_API_KEY"
    assert env_name("categories_file") == "MVR_CATEGORIES_FILE"


def test_values_are_parsed_with_their_types() -> None:
    settings = Settings.from_env(
        {
            "MVR_BATCH_MAX_SIZE": "16",
            "URGENCY_WEBHOOK_THRESHOLD": "0.7",
            "MVR_CATEGORIES_FILE": "cats.json",
            "MVR_API_KEY": "",
        }
    )

    assert settings.batch_max_size == 16
    assert settings.urgency_webhook_threshold == 0.7
    assert settings.categories_file == Path("cats.json")
    assert settings.api_key is None


@pytest.mark.parametrize(
    ("raw", "value"), [("1", True), ("true", True), ("On", True), ("0", False), ("no", False)]
)
def test_access_log_is_a_boolean_switch(raw: str, value: bool) -> None:
    assert Settings.from_env({"MVR_ACCESS_LOG": raw}).access_log is value
    assert Settings.from_env({}).access_log is False


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MVR_BATCH_MAX_SIZE": "many"}, "MVR_BATCH_MAX_SIZE"),
        ({"MVR_BATCH_MAX_SIZE": "0"}, "MVR_BATCH_MAX_SIZE"),
        ({"URGENCY_WEBHOOK_THRESHOLD": "1.5"}, "URGENCY_WEBHOOK_THRESHOLD"),
        ({"MVR_BACKEND": "gpt"}, "MVR_BACKEND"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"MVR_BROKER_URL": "redis://x"}, "MVR_BROKER_URL"),
        ({"MVR_LOG_LEVEL": "chatty"}, "MVR_LOG_LEVEL"),
        ({"MVR_ACCESS_LOG": "maybe"}, "MVR_ACCESS_LOG"),
        ({"MVR_TAKE_TIMEOUT_S": "-1"}, "MVR_TAKE_TIMEOUT_S"),
        ({"SLACK_WEBHOOK_URL": "not-a-url"}, "SLACK_WEBHOOK_URL"),
        ({"SLACK_WEBHOOK_URL": "hooks.slack.com/services/T/B/secret"}, "SLACK_WEBHOOK_URL"),
        ({"SLACK_WEBHOOK_URL": "ftp://hooks.slack.com/services/T/B/secret"}, "SLACK_WEBHOOK_URL"),
        ({"SLACK_WEBHOOK_URL": "https:///services/T/B/secret"}, "SLACK_WEBHOOK_URL"),
        ({"SLACK_WEBHOOK_URL": "https://hooks.slack.com:99999/services/T/B/secret"}, "SLACK_WEBHOOK_URL"),
        ({"MVR_ALERT_DELIVERY": "exactly-once"}, "MVR_ALERT_DELIVERY"),
        ({"MVR_REQUEST_TIMEOUT_S": "0"}, "MVR_REQUEST_TIMEOUT_S"),
        ({"MVR_SLACK_TIMEOUT_S": "-1"}, "MVR_SLACK_TIMEOUT_S"),
        ({"MVR_ALERT_MIN_BACKOFF_MS": "0"}, "MVR_ALERT_MIN_BACKOFF_MS"),
    ],
)
def test_invalid_values_fail_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


def test_an_invalid_webhook_url_is_refused_without_showing_its_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"SLACK_WEBHOOK_URL": "hooks.slack.com/services/T/B/topsecret"})

    assert "http(s) URL with a host" in str(caught.value)
    assert "topsecret" not in str(caught.value)


@pytest.mark.parametrize("url", ["https://hooks.slack.com/services/T/B/x", "http://127.0.0.1:8080/hook"])
def test_http_webhook_urls_are_accepted(url: str) -> None:
    assert Settings.from_env({"SLACK_WEBHOOK_URL": url}).slack_webhook_url == url
