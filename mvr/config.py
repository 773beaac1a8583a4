"""Settings: one frozen dataclass read from the environment and ``.env``.

No other module reads ``os.environ``. Invalid values fail at start with a
message naming the variable and the bad value.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from dotenv import dotenv_values

from mvr.errors import ConfigError, StoreUnavailable

__all__ = [
    "ALERT_DELIVERIES",
    "BACKENDS",
    "DEFAULT_MODELS_DIR",
    "ENCODERS",
    "LOG_LEVELS",
    "ConfigError",
    "Settings",
    "env_name",
    "load_settings",
]

#: The classifier backends MVR knows.
BACKENDS = ("embedding", "nli", "baseline")
#: Sentence encoders of the embedding backend (``MVR_ENCODER``; README, "Encoders").
ENCODERS = ("minilm", "e5-small", "mpnet")
#: Levels ``MVR_LOG_LEVEL`` accepts.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: What ``MVR_ALERT_DELIVERY`` accepts: repeat an interrupted post (labelled), or never repeat.
ALERT_DELIVERIES = ("at-least-once", "at-most-once")

#: Where the committed ONNX models live (a source checkout of MVR).
DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models_export"

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """Every knob of MVR, with the environment variable that sets it."""

    #: Redis URL for ticket state (and queues); None starts an embedded server (`mvr up`).
    redis_url: str | None = None
    #: Optional ``amqp://`` URL: task queues on RabbitMQ, state stays in Redis.
    broker_url: str | None = None
    #: Slack incoming-webhook URL; None logs "Mock webhook would fire".
    slack_webhook_url: str | None = None
    #: Alert when urgency S is strictly greater than this.
    urgency_webhook_threshold: float = 0.8
    #: ``at-least-once`` (default): an alert whose post was interrupted by a dying worker is
    #: posted again, labelled as a possible repeat; ``at-most-once``: it is recorded ``failed``.
    alert_delivery: str = "at-least-once"
    #: Seconds allowed for each of connect, write and read when posting to Slack.
    slack_timeout_s: float = 10.0
    #: Milliseconds of the first backoff after a Slack 5xx or timeout (doubling, with jitter).
    alert_min_backoff_ms: int = 1_000
    #: Milliseconds of the longest backoff between alert retries.
    alert_max_backoff_ms: int = 60_000
    #: When set, every route but /health, /docs and /openapi.json needs ``X-API-Key``.
    api_key: str | None = None
    #: JSON file of custom categories (see README); None uses the defaults.
    categories_file: Path | None = None
    #: Category head learnt by ``mvr fit`` (an .npz file); None uses prototypes.
    category_head: Path | None = None
    #: Classifier backend: embedding (default), nli or baseline.
    backend: str = "embedding"
    #: Sentence encoder of the embedding backend: minilm (default), e5-small or mpnet.
    encoder: str = "minilm"
    #: Encoder for tickets not in English (README "Languages"); ``off`` reads them with ``encoder``.
    multilingual_encoder: str = "e5-small"
    #: Directory holding the exported ONNX models, tokenizer and manifest.
    models_dir: Path = DEFAULT_MODELS_DIR
    #: Prefix of every MVR key in Redis.
    key_prefix: str = "mvr:"
    #: Dramatiq's Redis key namespace.
    broker_namespace: str = "dramatiq"
    #: Largest number of texts the micro-batcher runs in one call.
    batch_max_size: int = 32
    #: Largest number of padded tokens in one encoder call.
    batch_max_tokens: int = 8192
    #: How long, in milliseconds, the batcher waits to fill a batch.
    batch_max_wait_ms: float = 5.0
    #: ONNX Runtime threads: 0 runs one single-threaded runner per CPU (at most 4; measured
    #: fastest for MiniLM), N > 0 runs one runner with N intra-op threads.
    ort_threads: int = 0
    #: Dramatiq worker processes started by `mvr worker` / `mvr up`.
    worker_processes: int = 1
    #: Dramatiq worker threads per process.
    worker_threads: int = 8
    #: Most triage messages one batch of the worker's batch loop takes (Redis broker;
    #: ``mvr.actors.batches``); 1 runs each message on Dramatiq's worker threads instead.
    triage_batch_size: int = 8
    #: Longest pause, in milliseconds, of an idle worker between fetches (Dramatiq's
    #: ``dramatiq_worker_timeout``, 1,000 by default, adds up to a second of latency).
    worker_poll_ms: int = 100
    #: API (gunicorn) worker processes.
    api_workers: int = 2
    #: How long, in milliseconds, a worker's claim on a ticket lasts (a dead worker's
    #: ticket can be claimed again after this).
    lock_ttl_ms: int = 15_000
    #: Milliseconds without a heartbeat before Dramatiq requeues a dead worker's messages.
    broker_heartbeat_timeout_ms: int = 10_000
    #: Seconds the API waits for Redis before answering 503.
    redis_timeout_s: float = 1.0
    #: Seconds a client has to send a request's headers and body before the API answers 408
    #: and closes the connection.
    request_timeout_s: float = 10.0
    #: Seconds between sweeps for work that lost its message.
    sweep_interval_s: float = 15.0
    #: Seconds a ticket may stay pending (or an alert undelivered) before a sweep re-sends it.
    sweep_after_s: float = 60.0
    #: Port of the workers' Prometheus endpoint (`mvr worker`).
    worker_metrics_port: int = 9191
    #: Directory where processes share Prometheus metrics (set by `mvr api` / `mvr worker`).
    prometheus_multiproc_dir: str | None = None
    #: Public base URL used in status links of Slack messages.
    public_url: str = "http://127.0.0.1:8000"
    #: Level of the workers' own log lines: INFO says each triaged ticket (category, S),
    #: alerts, skips and failures; WARNING keeps only degraded results and errors.
    log_level: str = "INFO"
    #: Log one line per HTTP request (gunicorn's access log, on stdout) from `mvr api` / `mvr up`.
    access_log: bool = False
    #: Seconds a taken ticket (GET /tickets/next) may stay unresolved before it returns to
    #: the ready queue; 0 turns the lease off (a taken ticket waits for resolve or requeue).
    take_timeout_s: float = 0.0
    #: Base URL of the API that `mvr submit`, `queue`, `next` and `show` talk to.
    url: str = "http://127.0.0.1:8000"

    @property
    def alert_hold_ms(self) -> int:
        """Milliseconds after which an unfinished Slack post counts as interrupted.

        Longer than any post can take: connect, write and read, each within
        ``slack_timeout_s``, plus a second.
        """
        return int((3 * self.slack_timeout_s + 1) * 1000)

    def require_redis_url(self) -> str:
        """Return ``REDIS_URL`` or raise ``StoreUnavailable`` naming it."""
        if self.redis_url is None:
            raise StoreUnavailable("REDIS_URL is not set (`mvr up` starts an embedded server and sets it)")
        return self.redis_url

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (default: ``.env`` overlaid by ``os.environ``).

        Raises:
            ConfigError: A variable holds an invalid value.
        """
        if env is None:
            env = {**_dotenv(), **os.environ}
        values = {f.name: _read(env, f.name, f.type) for f in fields(cls)}
        settings = cls(**{k: v for k, v in values.items() if v is not None})
        settings._validate()
        return settings

    def _validate(self) -> None:
        if self.log_level.upper() not in LOG_LEVELS:
            raise ConfigError(f"invalid value for MVR_LOG_LEVEL: {self.log_level!r} (one of {LOG_LEVELS})")
        if self.alert_delivery not in ALERT_DELIVERIES:
            raise ConfigError(
                f"invalid value for MVR_ALERT_DELIVERY: {self.alert_delivery!r} (one of {ALERT_DELIVERIES})"
            )
        if self.backend not in BACKENDS:
            raise ConfigError(f"invalid value for MVR_BACKEND: {self.backend!r} (one of {BACKENDS})")
        if self.encoder not in ENCODERS:
            raise ConfigError(f"invalid value for MVR_ENCODER: {self.encoder!r} (one of {ENCODERS})")
        if self.multilingual_encoder not in (*ENCODERS, "off"):
            raise ConfigError(
                f"invalid value for MVR_MULTILINGUAL_ENCODER: {self.multilingual_encoder!r} "
                f"(one of {ENCODERS} or off)"
            )
        if not 0.0 <= self.urgency_webhook_threshold <= 1.0:
            raise ConfigError(
                "invalid value for URGENCY_WEBHOOK_THRESHOLD: "
                f"{self.urgency_webhook_threshold!r} (must be in [0, 1])"
            )
        for name in (
            "batch_max_size",
            "batch_max_tokens",
            "worker_processes",
            "worker_threads",
            "triage_batch_size",
            "api_workers",
            "lock_ttl_ms",
            "alert_min_backoff_ms",
            "alert_max_backoff_ms",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"invalid value for {env_name(name)}: must be at least 1")
        if self.take_timeout_s < 0:
            raise ConfigError(
                f"invalid value for MVR_TAKE_TIMEOUT_S: {self.take_timeout_s!r} (0 = off, or > 0)"
            )
        for name in ("slack_timeout_s", "request_timeout_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"invalid value for {env_name(name)}: must be more than 0")
        if self.slack_webhook_url is not None and not _is_http_url(self.slack_webhook_url):
            raise ConfigError("invalid value for SLACK_WEBHOOK_URL: an http(s) URL with a host expected")
        if self.redis_url is not None and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"invalid value for REDIS_URL: {self.redis_url!r} (redis:// URL expected)")
        if self.broker_url is not None and not self.broker_url.startswith(("amqp://", "amqps://")):
            raise ConfigError("invalid value for MVR_BROKER_URL: amqp:// URL expected")


def _is_http_url(url: str) -> bool:
    """Tell whether ``url`` is an ``http(s)://`` URL with a host (and a valid port, if any)."""
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        return False


#: Variables that keep the names users know from the original workflow.
_PLAIN_NAMES = {"redis_url", "slack_webhook_url", "urgency_webhook_threshold", "prometheus_multiproc_dir"}


def env_name(field_name: str) -> str:
    """Return the environment variable that sets ``field_name``."""
    upper = field_name.upper()
    return upper if field_name in _PLAIN_NAMES else f"MVR_{upper}"


def _read(env: Mapping[str, str], field_name: str, type_name: Any) -> Any:
    name = env_name(field_name)
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    parse = _parser(str(type_name))
    try:
        return parse(raw.strip())
    except ValueError:
        raise ConfigError(f"invalid value for env var {name}: {raw!r}") from None


#: Spellings of a true and a false boolean variable.
_BOOLEANS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


def _parse_bool(raw: str) -> bool:
    try:
        return _BOOLEANS[raw.lower()]
    except KeyError:
        raise ValueError(raw) from None


def _parser(type_name: str) -> Callable[[str], Any]:
    if type_name.startswith("bool"):
        return _parse_bool
    if "Path" in type_name:
        return Path
    if type_name.startswith("int"):
        return int
    if type_name.startswith("float"):
        return float
    return str


def _dotenv() -> dict[str, str]:
    return {k: v for k, v in dotenv_values(".env").items() if v is not None}


def load_settings() -> Settings:
    """Read settings once for a process (environment and ``.env``)."""
    return Settings.from_env()
