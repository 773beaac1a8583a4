"""The `mvr` command's model and Slack subcommands (real engine, real files)."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mvr.cli import main
from mvr.processes import stop_process
from tests.conftest import free_port, wait_for

TICKETS = [
    ("Invoice", "I was charged twice for my subscription this month.", "billing", "high"),
    ("Refund", "Please refund the annual plan I cancelled.", "billing", "low"),
    ("Receipt", "Where can I download last month's receipt?", "billing", "medium"),
    ("Crash", "The app crashes whenever I open the settings page.", "technical", "high"),
    ("Login", "I cannot log in after resetting my password.", "technical", "high"),
    ("Slow", "The dashboard takes a minute to load.", "technical", "low"),
    ("DMCA", "This repository copies our copyrighted code; please take it down.", "legal", "medium"),
    ("GDPR", "Under the GDPR I request a copy of all my personal data.", "legal", "low"),
    ("Lawsuit", "Our attorney will file a lawsuit unless this is resolved.", "legal", "high"),
]


@pytest.fixture
def tickets_csv(tmp_path: Path) -> Path:
    path = tmp_path / "tickets.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["subject", "body", "category", "priority"])
        writer.writerows(TICKETS)
    return path


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("MVR_BACKEND", "REDIS_URL", "SLACK_WEBHOOK_URL", "MVR_CATEGORY_HEAD"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_classify_prints_the_decision_as_json(runner: CliRunner) -> None:
    result = runner.invoke(main, ["classify", "Our production database is down, urgent!"])

    decision = json.loads(result.output)
    assert result.exit_code == 0
    assert decision["category"] == "Technical"
    assert decision["urgency_label"] == "high"
    assert decision["explanation"]["backend"] == "embedding"


def test_eval_tickets_json_reports_accuracy_f1_and_confusion(runner: CliRunner, tickets_csv: Path) -> None:
    result = runner.invoke(main, ["eval", "tickets", str(tickets_csv), "--json"])

    report = json.loads(result.output.strip().splitlines()[-1])
    assert result.exit_code == 0
    assert report["rows"] == 9
    assert set(report["per_class"]) == {"billing", "technical", "legal"}
    assert report["accuracy"] >= 0.8 and 0 <= report["macro_f1"] <= 1
    assert sum(map(sum, report["confusion"])) == 9


def test_eval_tickets_table_with_the_baseline(runner: CliRunner, tickets_csv: Path) -> None:
    result = runner.invoke(main, ["eval", "tickets", str(tickets_csv), "--backend", "baseline"])

    assert result.exit_code == 0
    assert "macro-F1" in result.output and "backend baseline" in result.output


def test_eval_urgency_and_sentiment_print_roc_auc(
    runner: CliRunner, tickets_csv: Path, tmp_path: Path
) -> None:
    tweets = tmp_path / "tweets.csv"
    tweets.write_text(
        "text,sentiment\nI love this, thank you!,positive\nWorst service ever.,negative\n"
        "Flight was fine.,neutral\nThey lost my bag again and nobody helps.,negative\n"
    )

    urgency = runner.invoke(main, ["eval", "urgency", str(tickets_csv), "--json"])
    sentiment = runner.invoke(main, ["eval", "sentiment", str(tweets), "--json"])

    assert urgency.exit_code == 0 and sentiment.exit_code == 0
    assert 0 <= json.loads(urgency.output.strip().splitlines()[-1])["auc"] <= 1
    assert json.loads(sentiment.output.strip().splitlines()[-1])["auc"] == 1.0


def test_fit_writes_a_head_that_eval_uses(runner: CliRunner, tickets_csv: Path, tmp_path: Path) -> None:
    head = tmp_path / "head.npz"

    fitted = runner.invoke(main, ["fit", str(tickets_csv), "--out", str(head)])
    report = runner.invoke(main, ["eval", "tickets", str(tickets_csv), "--head", str(head), "--json"])

    assert fitted.exit_code == 0 and head.exists()
    assert json.loads(report.output.strip().splitlines()[-1])["category_method"] == "linear-head"


def test_slack_test_without_webhook_fails_with_a_reason(runner: CliRunner) -> None:
    result = runner.invoke(main, ["slack-test"])

    assert result.exit_code == 1
    assert "SLACK_WEBHOOK_URL is not set" in result.output


def test_slack_test_posts_and_says_ok(runner: CliRunner, fake_slack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", fake_slack.url)

    result = runner.invoke(main, ["slack-test"])

    assert result.exit_code == 0
    assert "OK: Message sent to Slack. Check your channel." in result.output
    assert len(fake_slack.requests) == 1


@pytest.mark.parametrize("command", [["slack-test"], ["classify", "Server down"]])
def test_a_webhook_url_that_is_not_a_url_stops_mvr_at_start(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "not-a-url")
    monkeypatch.setenv("MVR_BACKEND", "baseline")

    result = runner.invoke(main, command)

    assert result.exit_code == 2
    assert "invalid value for SLACK_WEBHOOK_URL: an http(s) URL with a host expected" in result.output
    if command == ["slack-test"]:
        assert "Nothing was sent." in result.output
        assert "Posting" not in result.output


@pytest.mark.parametrize("command", ["api", "worker"])
def test_api_and_worker_need_redis_url(runner: CliRunner, command: str) -> None:
    result = runner.invoke(main, [command])

    assert result.exit_code == 2
    assert "REDIS_URL is not set" in result.output


@pytest.mark.parametrize(
    ("command", "port_env", "needed_by"),
    [("api", None, "the API"), ("worker", "MVR_WORKER_METRICS_PORT", "the workers' metrics endpoint")],
)
def test_api_and_worker_refuse_a_busy_port_at_once(
    command: str, port_env: str | None, needed_by: str, redis_url: str
) -> None:
    # Given something already listening on the port the command needs
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = {**os.environ, "REDIS_URL": redis_url, "MVR_WORKER_METRICS_PORT": str(free_port())}
        args = [sys.executable, "-m", "mvr", command]
        if port_env:
            env[port_env] = str(port)
        else:
            args += ["--port", str(port)]

        # When the command starts
        started = time.monotonic()
        result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)

    # Then it exits non-zero at once with one line naming the port and what needed it
    assert result.returncode == 1, result.stderr
    assert time.monotonic() - started < 15
    assert result.stderr.strip().splitlines() == [
        f"Error: port {port} on 127.0.0.1 is already in use, so {needed_by} cannot start; "
        + (
            "stop what listens there or set MVR_WORKER_METRICS_PORT"
            if port_env
            else "stop what listens there or pass another --port"
        )
    ]


def test_invalid_setting_is_a_usage_error_naming_it(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MVR_BACKEND", "gpt")

    result = runner.invoke(main, ["classify", "hello"])

    assert result.exit_code == 2
    assert "MVR_BACKEND" in result.output


def test_stopping_a_child_that_ignores_sigterm_also_kills_what_it_started() -> None:
    # Given a child in its own session that ignores SIGTERM and has a child of its own
    stubborn = (
        "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "print(p.pid, flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", stubborn], stdout=subprocess.PIPE, start_new_session=True)
    assert child.stdout is not None
    grandchild = int(child.stdout.readline())

    # When it is stopped with a short grace period
    stop_process(child, grace_s=0.5)

    # Then both are gone
    assert child.returncode == -signal.SIGKILL
    wait_for(
        lambda: (
            not Path(f"/proc/{grandchild}").exists()
            or "zombie" in Path(f"/proc/{grandchild}/status").read_text()
        )
    )
