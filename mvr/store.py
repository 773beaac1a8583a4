"""TicketStore: every Redis key and operation of MVR.

Atomic steps are Lua scripts in ``mvr/lua`` registered once per client. The API
uses ``AsyncTicketStore`` (``redis.asyncio``); workers use ``TicketStore``.
Both raise ``StoreUnavailable`` when Redis does not answer.

Keys (prefix ``mvr:`` by default):

- ``ticket:{id}`` hash: the ticket, its status and its decision.
- ``pending`` / ``processing`` zsets by creation time.
- ``ready`` zset of completed tickets by S; members are ``{rank}:{id}``, where ``rank``
  (16 digits, falling with creation time) makes equal S come out oldest first.
- ``taken`` zset by time taken, ``resolved`` and ``failed`` zsets by time of that change.
- ``bycat:{status}:{category}`` zsets: the ``completed`` (ready), ``taken`` and ``resolved``
  sets split by the ticket's category (the person's correction when there is one).
- ``corrections`` zset of corrected tickets by time of their latest correction.
- ``workers:ready`` zset of worker processes (``host:pid``) by the time their engine was loaded.
- ``lock:{id}`` claim with TTL; ``fence`` counter of fencing tokens.
- ``idem:{key}`` idempotency record with TTL.
- ``alerted:{id}`` state of a ticket's Slack alert (see ``lua/alert_begin.lua``);
  ``alerts:pending`` zset of alerts not yet delivered, by completion time.

Lua scripts that build keys from a prefix argument (ticket, ``bycat:``) get those
prefixes from here.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
import redis
import redis.asyncio
from redis.connection import HiredisRespSerializer

from mvr.autopipe import PipelinedRedis, ReplyError, can_pipeline
from mvr.errors import IdempotencyConflict, StoreUnavailable, TicketNotFound, TransitionNotAllowed
from mvr.queues import (
    ALERT_ACTOR,
    ALERT_QUEUE,
    TRIAGE_ACTOR,
    TRIAGE_QUEUE,
    RedisAck,
    dramatiq_message,
    redis_queue_keys,
    triage_args,
)
from mvr.ticket import (
    ACTIONS,
    DECIDED,
    AlertOutcome,
    Correction,
    QueueItem,
    TicketStatus,
    TicketStatusDocument,
    UrgencyLabel,
    excerpt,
    is_ticket_id,
    text_values,
)

if TYPE_CHECKING:
    from mvr.config import Settings
    from mvr.ticket import Decision

__all__ = [
    "AlertReservation",
    "AlertVerdict",
    "AsyncTicketStore",
    "Claim",
    "ClaimState",
    "Completion",
    "CompletionRequest",
    "QueuePage",
    "TicketStore",
    "connect",
    "connect_async",
    "utc_now_iso",
]

#: Redis connections per API process (requests in flight beyond it wait for one).
API_POOL_SIZE = 100
#: Idempotency records expire after 24 hours.
IDEMPOTENCY_TTL_S = 24 * 3600
_JSON_FIELDS = ("scores", "explanation")
#: Scripts that start with ``lifecycle.lua`` (shared helpers and lease expiry).
_LIFECYCLE_SCRIPTS = ("pop_next", "resolve", "requeue", "correct", "queue_page")
#: Which statuses each people-side action accepts.
_ALLOWED_FROM = {
    action: tuple(status for status, actions in ACTIONS.items() if action in actions)
    for action in ("resolve", "requeue", "category")
}
#: A Lua script argument, as redis-py sends it.
ScriptArg = str | bytes | int | float
_REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)
_LUA_DIR = Path(__file__).with_name("lua")
_encode_json = msgspec.json.Encoder().encode


def connect(settings: Settings) -> redis.Redis:
    """Return a Redis client for workers and the CLI (fails fast, no silent retries)."""
    return redis.Redis.from_url(settings.require_redis_url(), **_client_options(settings))


def connect_async(settings: Settings) -> redis.asyncio.Redis:
    """Return an asyncio Redis client for the API (fails within about ``redis_timeout_s``).

    ``AsyncTicketStore`` keeps at most ``API_POOL_SIZE`` calls in flight, so the pool
    never opens more connections than that.
    """
    options = _client_options(settings)
    url = settings.require_redis_url()
    if url.startswith("redis://"):
        options["connection_class"] = _HiredisPackingConnection
    return redis.asyncio.Redis.from_url(url, max_connections=API_POOL_SIZE, **options)


class _HiredisPackingConnection(redis.asyncio.Connection):
    """An asyncio TCP connection that packs commands in C, as redis-py's sync one does.

    PERF: ``redis.asyncio`` packs commands in Python (redis-py issue #4176); for the accept
    script's ~20 arguments that cost ~12 µs of the API's CPU per request (bench_intake, tuning 4).
    Accepts now go through ``mvr.autopipe`` (hiredis packs them there); status, queue, next and
    the lifecycle scripts still come here.
    """

    # redis-py 8.2 dropped the annotations of its __init__; earlier releases have them.
    _packer = HiredisRespSerializer()  # type: ignore[no-untyped-call, unused-ignore]

    def pack_command(self, *args: Any) -> list[bytes]:
        packed: list[bytes] = self._packer.pack(*args)
        return packed


class _RedisSlots:
    """Let at most ``size`` Redis calls run at once (the rest wait up to ``wait_s``); map errors.

    Inside, Redis errors become ``StoreUnavailable``. PERF: redis-py's BlockingConnectionPool
    waits on a Condition under a timeout on every call (~12 µs per request here,
    bench_intake tuning 4); a call pays for waiting only when it has to wait. Each
    command keeps redis-py's own socket timeout: one deadline per call instead was
    measured 15% dearer at a fixed rate (its writes no longer leave in bursts; tuning 5).
    """

    def __init__(self, size: int, wait_s: float) -> None:
        self._free = asyncio.Semaphore(size)
        self._wait_s = wait_s

    async def __aenter__(self) -> None:
        if not self._free.locked():
            await self._free.acquire()  # returns at once
            return
        try:
            async with asyncio.timeout(self._wait_s):
                await self._free.acquire()
        except TimeoutError as ex:
            raise StoreUnavailable(f"no Redis connection came free within {self._wait_s:g} s") from ex

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        self._free.release()
        if isinstance(exc, _REDIS_ERRORS):
            raise _unavailable(exc) from exc


def _client_options(settings: Settings) -> dict[str, Any]:
    timeout = settings.redis_timeout_s
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": None,
        "health_check_interval": 0,
    }


def utc_now_iso(ts: float | None = None) -> str:
    """Return an ISO 8601 UTC timestamp with milliseconds, e.g. ``2026-01-02T03:04:05.678Z``."""
    # PERF: time.strftime is about 2x faster than datetime here (bench_intake, tuning 1).
    ts = time.time() if ts is None else ts
    whole = int(ts)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((ts - whole) * 1000):03d}Z"


class ClaimState(StrEnum):
    """What claiming a ticket found (``claim.lua``)."""

    CLAIMED = "claimed"
    DONE = "done"  # already finished
    LOCKED = "locked"  # another worker holds it
    MISSING = "missing"


class Completion(StrEnum):
    """What writing a decision did (``complete.lua``); also the label of ``mvr_tickets_triaged_total``."""

    COMPLETED = "completed"
    DONE = "done"  # already completed
    STALE = "stale"  # a newer claim exists
    MISSING = "missing"  # no such ticket


class AlertVerdict(StrEnum):
    """What reserving an alert found (``alert_begin.lua``)."""

    RESERVED = "reserved"  # post now
    HELD = "held"  # another delivery is posting
    SCHEDULED = "scheduled"  # another message's retry owns the alert
    ABANDONED = "abandoned"  # at most once: an interrupted post, not repeated
    FINAL = "final"  # already finished


class CompletionRequest(NamedTuple):
    """One decision for ``TicketStore.complete_many`` (the arguments of ``complete``)."""

    ticket_id: str
    token: str
    decision: Decision
    alert: AlertOutcome = AlertOutcome.NONE
    ack: RedisAck | None = None


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a ticket.

    Attributes:
        state: See ``ClaimState``.
        token: Fencing token of this claim (``claimed`` only).
        text: ``subject``, ``body``, ``description`` (``claimed`` only).
        created_ts: When the ticket was accepted, in Unix seconds (``claimed`` only).
        retry_in_ms: Time left on another worker's lock (``locked`` only).
    """

    state: ClaimState
    token: str = ""
    text: tuple[str, str, str] = ("", "", "")
    created_ts: float = 0.0
    retry_in_ms: int = 0


@dataclass(frozen=True)
class AlertReservation:
    """The outcome of reserving an alert before posting it.

    Attributes:
        verdict: See ``AlertVerdict``.
        possible_repeat: An earlier post was interrupted and may have reached Slack
            (``reserved`` only): the message must say so.
        held_ms: Time left before the other delivery's reservation counts as interrupted
            (``held`` only).
    """

    verdict: AlertVerdict
    possible_repeat: bool = False
    held_ms: int = 0


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue and the number of tickets in it."""

    total: int
    items: list[QueueItem]


class _Keys:
    """Key names and script sources shared by the sync and async stores."""

    def __init__(self, prefix: str, broker_namespace: str, enqueue_in_redis: bool) -> None:
        self.prefix = prefix
        self.broker_namespace = broker_namespace
        self.enqueue_in_redis = enqueue_in_redis
        self.pending = f"{prefix}pending"
        self.processing = f"{prefix}processing"
        self.ready = f"{prefix}ready"
        self.taken = f"{prefix}taken"
        self.resolved = f"{prefix}resolved"
        self.failed = f"{prefix}failed"
        self.corrections = f"{prefix}corrections"
        self.by_category = f"{prefix}bycat:"
        self.workers_ready = f"{prefix}workers:ready"
        self.fence = f"{prefix}fence"
        self.alerts_pending = f"{prefix}alerts:pending"
        self.swept = f"{prefix}swept"
        self.sweep_lock = f"{prefix}sweep:lock"

    def ticket_key(self, ticket_id: str) -> str:
        return f"{self.prefix}ticket:{ticket_id}"

    def lock_key(self, ticket_id: str) -> str:
        return f"{self.prefix}lock:{ticket_id}"

    def idem_key(self, key: str) -> str:
        return f"{self.prefix}idem:{hashlib.sha256(key.encode()).hexdigest()}"

    def alerted_key(self, ticket_id: str) -> str:
        return f"{self.prefix}alerted:{ticket_id}"

    def status_set(self, status: str) -> str:
        """Return the zset that lists tickets in ``status`` (completed ones are ``ready``)."""
        return self.ready if status == TicketStatus.COMPLETED else f"{self.prefix}{status}"

    def category_set(self, status: str, category: str) -> str:
        """Return the zset of tickets in ``status`` (completed, taken, resolved) and ``category``."""
        return f"{self.by_category}{status}:{category}"

    def queue_keys(self, queue: str) -> tuple[str, str]:
        """Return Dramatiq's list and message-hash keys of ``queue`` (empty names when not on Redis)."""
        if not self.enqueue_in_redis:
            return "", ""
        return redis_queue_keys(self.broker_namespace, queue)

    @staticmethod
    def script_source(name: str) -> str:
        source = (_LUA_DIR / f"{name}.lua").read_text(encoding="utf-8")
        if name in _LIFECYCLE_SCRIPTS:
            source = (_LUA_DIR / "lifecycle.lua").read_text(encoding="utf-8") + source
        return source


def _keys_for(settings: Settings) -> _Keys:
    return _Keys(settings.key_prefix, settings.broker_namespace, settings.broker_url is None)


def body_hash(fields: dict[str, str]) -> str:
    """Return a digest of a ticket's text, to tell idempotent retries from key reuse."""
    canonical = json.dumps(text_values(fields), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def status_document(raw: dict[str, str]) -> TicketStatusDocument:
    """Turn a ticket hash into the public status document."""
    status = TicketStatus(raw["status"])
    doc = TicketStatusDocument(
        ticket_id=raw["ticket_id"],
        status=status,
        created_at=raw["created_at"],
        updated_at=raw["updated_at"],
        actions=list(ACTIONS.get(status, ())),
        subject=raw.get("subject"),
        body=raw.get("body"),
        description=raw.get("description"),
    )
    if status in DECIDED:
        doc.category = raw["category"]
        doc.urgency_score = float(raw["urgency_score"])
        doc.urgency_label = UrgencyLabel(raw["urgency_label"])
        doc.scores = json.loads(raw["scores"])
        doc.explanation = json.loads(raw["explanation"])
        doc.alert = AlertOutcome(raw.get("alert", AlertOutcome.NONE))
        doc.alert_reason = raw.get("alert_reason")
        doc.taken_at = raw.get("taken_at")
        doc.lease_expires_at = raw.get("lease_expires_at")
        doc.resolved_at = raw.get("resolved_at")
        if "corrected_category" in raw:
            doc.correction = correction(raw)
    if status == TicketStatus.FAILED:
        doc.failure_reason = raw.get("failure_reason", "")
    return doc


def correction(raw: dict[str, str]) -> Correction:
    """Return the person's correction recorded in a ticket hash."""
    urgency = raw.get("corrected_urgency")
    return Correction(raw["corrected_category"], float(urgency) if urgency else None, raw["corrected_at"])


def _queue_item(row: list[Any]) -> QueueItem:
    ticket_id, status, score, label, category, created_at, subject, text, alert, *corrected = row
    # The script cuts the text at a byte count, maybe inside a character: drop that partial end.
    text = text.decode(errors="ignore") if isinstance(text, bytes) else str(text)
    item = QueueItem(
        ticket_id=_decode(ticket_id),
        status=TicketStatus(_decode(status)),
        created_at=_decode(created_at),
        subject=_decode(subject) or None,
        excerpt=excerpt(text),
    )
    if item.status in DECIDED:
        item.urgency_score = float(score)
        item.urgency_label = UrgencyLabel(_decode(label))
        item.category = _decode(category)
        item.alert = AlertOutcome(_decode(alert))
        if corrected[0]:
            item.correction = correction(dict(zip(_CORRECTION_FIELDS, map(_decode, corrected), strict=True)))
    return item


#: Hash fields of a correction, in the order queue_page.lua returns them.
_CORRECTION_FIELDS = ("corrected_category", "corrected_urgency", "corrected_at")


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(flat: list[Any]) -> dict[str, str]:
    return {_decode(flat[i]): _decode(flat[i + 1]) for i in range(0, len(flat), 2)}


def _accept_result(reply: list[Any]) -> tuple[str, str]:
    outcome, ticket_id = _decode(reply[0]), _decode(reply[1])
    if outcome == "conflict":
        raise IdempotencyConflict("Idempotency-Key was already used with a different body")
    return outcome, ticket_id


class AsyncTicketStore:
    """The API's view of the store: accept, read status, page the queue, pop the next ticket."""

    def __init__(self, client: redis.asyncio.Redis, settings: Settings) -> None:
        self._client = client
        url = settings.require_redis_url()
        self._pipe = PipelinedRedis(url, settings.redis_timeout_s) if can_pipeline(url) else None
        self._redis_slot = _RedisSlots(API_POOL_SIZE, settings.redis_timeout_s)
        self._keys = _keys_for(settings)
        self._take_timeout_s = settings.take_timeout_s
        self._accept = client.register_script(_Keys.script_source("accept"))
        self._scripts = {
            name: client.register_script(_Keys.script_source(name)) for name in _LIFECYCLE_SCRIPTS
        }

    async def accept(self, fields: dict[str, str], idempotency_key: str | None = None) -> tuple[str, bool]:
        """Store a new ticket and enqueue its triage message in one Redis call.

        Returns:
            ``(ticket_id, created)``; ``created`` is False for an idempotent repeat.

        Raises:
            IdempotencyConflict: The key was used before with a different body.
            StoreUnavailable: Redis did not answer.
        """
        while True:
            keys, args = self._accept_call(fields, idempotency_key)
            reply = await self._run_accept(keys, args)
            outcome, ticket_id = _accept_result(reply)
            if outcome != "exists":
                return ticket_id, outcome == "created"

    async def _run_accept(self, keys: list[str], args: list[ScriptArg]) -> Any:
        # PERF: EVALSHA on the shared pipelined connection (mvr.autopipe); the script
        # object only loads the script when Redis does not know it yet.
        if self._pipe is not None:
            try:
                return await self._pipe.execute("EVALSHA", self._accept.sha, len(keys), *keys, *args)
            except ReplyError as ex:
                if not str(ex).startswith("NOSCRIPT"):
                    raise
        async with self._redis_slot:
            return await self._accept(keys=keys, args=args)

    def _accept_call(
        self, fields: dict[str, str], idempotency_key: str | None
    ) -> tuple[list[str], list[ScriptArg]]:
        k = self._keys
        ticket_id = uuid.uuid4().hex
        now = time.time()
        # The ticket's first triage message is unique to it: its id can be the message id.
        message_id, message = dramatiq_message(
            TRIAGE_QUEUE, TRIAGE_ACTOR, *triage_args(ticket_id, fields, now), message_id=ticket_id
        )
        keys = [
            k.ticket_key(ticket_id),
            k.pending,
            k.idem_key(idempotency_key) if idempotency_key else "",
            *k.queue_keys(TRIAGE_QUEUE),
        ]
        args: list[ScriptArg] = [
            ticket_id,
            now,
            utc_now_iso(now),
            body_hash(fields) if idempotency_key else "",
            IDEMPOTENCY_TTL_S,
            message_id,
            message,
        ]
        for name, value in fields.items():
            args += (name, value)
        return keys, args

    async def status(self, ticket_id: str) -> TicketStatusDocument:
        """Return the status document of a ticket (after returning its lease if it ran out).

        Raises:
            TicketNotFound: No ticket has that id (ids that cannot be ids are not looked up).
        """
        if not is_ticket_id(ticket_id):
            raise TicketNotFound(ticket_id)
        async with self._redis_slot:
            raw = await self._client.hgetall(self._keys.ticket_key(ticket_id))
        if not raw:
            raise TicketNotFound(ticket_id)
        fields = {_decode(k): _decode(v) for k, v in raw.items()}
        if fields["status"] == TicketStatus.TAKEN and self._lease_ran_out(fields):
            await self._run("queue_page", "", [], [0, 0])  # any lifecycle script returns leases
            return await self.status(ticket_id)
        return status_document(fields)

    def _lease_ran_out(self, fields: dict[str, str]) -> bool:
        return self._take_timeout_s > 0 and float(fields["taken_ts"]) <= time.time() - self._take_timeout_s

    async def queue_page(
        self, offset: int, limit: int, status: str | None = None, category: str | None = None
    ) -> QueuePage:
        """Return one page of tickets in queue order.

        Without ``status``: completed by S desc (oldest first among equal S), then processing,
        then pending, oldest first. With ``status``: only those (taken oldest first, resolved and
        failed newest first). ``category`` keeps tickets of that category (corrected or MVR's).
        """
        sets = self._listed_sets(status, category)
        total, rows = await self._run(
            "queue_page", "", [key for key, _ in sets], [offset, limit, *(order for _, order in sets)]
        )
        return QueuePage(int(total), [_queue_item(row) for row in rows])

    def _listed_sets(self, status: str | None, category: str | None) -> list[tuple[str, str]]:
        k = self._keys
        statuses = (
            [status] if status else [TicketStatus.COMPLETED, TicketStatus.PROCESSING, TicketStatus.PENDING]
        )
        if category is not None:
            return [(k.category_set(s, category), _ORDER[s]) for s in statuses if s in DECIDED]
        return [(k.status_set(s), _ORDER[s]) for s in statuses]

    async def pop_next(self) -> TicketStatusDocument | None:
        """Take the completed ticket with the highest S (oldest first among equal S), or None.

        The ticket becomes ``taken`` (with ``taken_at``, and ``lease_expires_at`` when
        ``MVR_TAKE_TIMEOUT_S`` is set) until it is resolved or requeued.
        """
        flat = await self._run("pop_next", "", [], [])
        return status_document(_pairs(flat)) if flat else None

    async def peek_next(self) -> bool:
        """Return whether GET /tickets/next would find a ticket, taking none."""
        k = self._keys
        async with self._redis_slot:
            ready = await self._client.zcard(k.ready)
            expired = await self._client.zcount(k.taken, "-inf", self._lease_cutoff()) if not ready else 0
        return bool(ready or expired)

    async def resolve(self, ticket_id: str) -> TicketStatusDocument:
        """Move a ``taken`` ticket to ``resolved``.

        Raises:
            TicketNotFound: No ticket has that id.
            TransitionNotAllowed: The ticket is not ``taken``.
        """
        return await self._transition("resolve", ticket_id, [], [])

    async def requeue(self, ticket_id: str) -> TicketStatusDocument:
        """Put a ``taken`` ticket back into the ready queue (``completed``), at its place by S and age.

        Raises:
            TicketNotFound: No ticket has that id.
            TransitionNotAllowed: The ticket is not ``taken``.
        """
        return await self._transition("requeue", ticket_id, [], [])

    async def correct(
        self, ticket_id: str, category: str, urgency_score: float | None
    ) -> TicketStatusDocument:
        """Record a person's category (and urgency) next to MVR's decision.

        Raises:
            TicketNotFound: No ticket has that id.
            TransitionNotAllowed: The ticket has no decision yet (or failed).
        """
        urgency = "" if urgency_score is None else repr(urgency_score)
        return await self._transition("category", ticket_id, [self._keys.corrections], [category, urgency])

    async def _transition(
        self, action: str, ticket_id: str, keys: list[str], args: list[ScriptArg]
    ) -> TicketStatusDocument:
        script = "correct" if action == "category" else action
        outcome, detail = await self._run(script, self._keys.ticket_key(ticket_id), keys, args)
        if outcome == b"missing":
            raise TicketNotFound(ticket_id)
        if outcome == b"conflict":
            raise TransitionNotAllowed(action, _decode(detail), _ALLOWED_FROM[action])
        return status_document(_pairs(detail))

    async def _run(self, script: str, ticket_key: str, keys: list[str], args: list[ScriptArg]) -> Any:
        """Run a lifecycle script with the keys and arguments ``lifecycle.lua`` expects first."""
        k = self._keys
        now = time.time()
        leases = self._take_timeout_s > 0
        base_args = [
            k.ticket_key(""),
            k.by_category,
            repr(now),
            utc_now_iso(now),
            self._lease_cutoff(now) if leases else "",
            utc_now_iso(now + self._take_timeout_s) if leases else "",
        ]
        async with self._redis_slot:
            return await self._scripts[script](
                keys=[ticket_key, k.ready, k.taken, k.resolved, *keys], args=[*base_args, *args]
            )

    def _lease_cutoff(self, now: float | None = None) -> str:
        """Return the ``taken_ts`` at or before which a lease has run out ("-inf" when leases are off)."""
        if self._take_timeout_s <= 0:
            return "-inf"
        return repr((time.time() if now is None else now) - self._take_timeout_s)

    async def ping(self) -> None:
        """Check that Redis answers."""
        async with self._redis_slot:
            await self._client.ping()


#: Listing direction of each status set in /queue.
_ORDER: dict[str, str] = {
    TicketStatus.COMPLETED: "desc",
    TicketStatus.PROCESSING: "asc",
    TicketStatus.PENDING: "asc",
    TicketStatus.TAKEN: "asc",
    TicketStatus.RESOLVED: "desc",
    TicketStatus.FAILED: "desc",
}


class TicketStore:
    """The workers' view of the store: claim, complete, fail, record alerts."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.client = client
        self.keys = _keys_for(settings)
        self._lock_ttl_ms = settings.lock_ttl_ms
        self._claim = client.register_script(_Keys.script_source("claim"))
        self._complete = client.register_script(_Keys.script_source("complete"))
        self._fail = client.register_script(_Keys.script_source("fail"))
        self._alert_begin = client.register_script(_Keys.script_source("alert_begin"))
        self._alert_release = client.register_script(_Keys.script_source("alert_release"))
        self._alert_hold_ms = settings.alert_hold_ms
        self._alert_grace_ms = int(settings.sweep_after_s * 1000)
        self._at_least_once = settings.alert_delivery == "at-least-once"

    def claim(self, ticket_id: str) -> Claim:
        """Claim a ticket for processing with a lock and a new fencing token."""
        k = self.keys
        with _translate_errors():
            reply = self._claim(
                keys=[k.ticket_key(ticket_id), k.lock_key(ticket_id), k.fence, k.pending, k.processing],
                args=[self._lock_ttl_ms, utc_now_iso()],
            )
        state = ClaimState(_decode(reply[0]))
        if state == ClaimState.CLAIMED:
            subject, body, description = (_decode(v) for v in reply[2:5])
            return Claim(
                state, token=_decode(reply[1]), text=(subject, body, description), created_ts=float(reply[5])
            )
        return Claim(state, retry_in_ms=int(reply[1]) if state == ClaimState.LOCKED else 0)

    def complete(
        self,
        ticket_id: str,
        token: str,
        decision: Decision,
        *,
        alert: AlertOutcome = AlertOutcome.NONE,
        ack: RedisAck | None = None,
    ) -> Completion:
        """Write the decision of a ticket still ``pending`` or ``processing``, with its alert, once.

        Args:
            token: The fencing token of this worker's claim: the decision is written only
                if it is the latest claim. ``""``: the worker did not claim the ticket (its
                message carried the text); the first decision written wins.
            alert: ``NONE`` (not urgent), ``PENDING`` (enqueue the alert actor with the
                decision) or ``MOCK`` (no webhook: record the alert as logged only).
            ack: Acknowledge this Dramatiq message in the same call, whatever the outcome.

        Returns:
            See ``Completion``.
        """
        keys, args = self._complete_call(CompletionRequest(ticket_id, token, decision, alert, ack))
        with _translate_errors():
            reply = self._complete(keys=keys, args=args)
        return Completion(_decode(reply))

    def complete_many(self, requests: Sequence[CompletionRequest]) -> list[Completion | StoreUnavailable]:
        """Run ``complete`` for each request in one pipelined round trip.

        Returns:
            One outcome per request, in order: a ``Completion``, or ``StoreUnavailable`` for a
            request whose script failed.

        Raises:
            StoreUnavailable: Redis did not answer (no request is known to have run).
        """
        # PERF: EVALSHA straight into the pipeline; redis-py's script objects would add a
        # SCRIPT EXISTS round trip to every call. An unknown script (Redis restarted) is loaded
        # once and the call repeated.
        calls = [self._complete_call(request) for request in requests]
        for attempt in range(2):
            with _translate_errors(), self.client.pipeline(transaction=False) as pipe:
                for keys, args in calls:
                    pipe.evalsha(self._complete.sha, len(keys), *keys, *args)
                replies = pipe.execute(raise_on_error=False)
                if attempt == 0 and any(isinstance(r, redis.exceptions.NoScriptError) for r in replies):
                    self.client.script_load(self._complete.script)
                    continue
            break
        return [_unavailable(r) if isinstance(r, Exception) else Completion(_decode(r)) for r in replies]

    def _complete_call(self, request: CompletionRequest) -> tuple[list[str], list[ScriptArg]]:
        """Return the keys and arguments of ``complete.lua`` for ``request``."""
        k = self.keys
        ticket_id, decision, ack = request.ticket_id, request.decision, request.ack
        queued = request.alert == AlertOutcome.PENDING
        message_id, message = dramatiq_message(ALERT_QUEUE, ALERT_ACTOR, ticket_id) if queued else ("", "")
        fields = {
            "category": decision.category,
            "urgency_score": repr(decision.urgency_score),
            "urgency_label": decision.urgency_label,
            "scores": _encode_json(decision.scores).decode(),
            "explanation": _encode_json(decision.explanation).decode(),
            "alert": request.alert.value,
        }
        now = time.time()
        args: list[ScriptArg] = [
            request.token,
            utc_now_iso(now),
            decision.urgency_score,
            message_id,
            message,
            "1" if queued else "0",
            now,
            ack.message_id if ack else "",
        ]
        for name, value in fields.items():
            args += (name, value)
        keys = [
            k.ticket_key(ticket_id),
            k.lock_key(ticket_id),
            k.pending,
            k.processing,
            k.ready,
            k.category_set(TicketStatus.COMPLETED, decision.category),
            *k.queue_keys(ALERT_QUEUE),
            k.alerts_pending,
            *(ack[:2] if ack else ("", "")),
        ]
        return keys, args

    def fail(self, ticket_id: str, reason: str) -> bool:
        """Mark an unfinished ticket ``failed`` with ``reason``; False if it had finished."""
        k = self.keys
        with _translate_errors():
            now = time.time()
            done = self._fail(
                keys=[k.ticket_key(ticket_id), k.lock_key(ticket_id), k.pending, k.processing, k.failed],
                args=[utc_now_iso(now), reason, now],
            )
        return bool(done)

    def begin_alert(self, ticket_id: str, message_id: str) -> AlertReservation:
        """Reserve the right to post a ticket's alert, for the delivery of ``message_id``.

        A reservation older than ``Settings.alert_hold_ms`` was interrupted (its worker died
        mid-post): at least once, it is taken over as a possible repeat; at most once, it
        is reported ``abandoned``. A retry scheduled by another message blocks this one
        until ``sweep_after_s`` past its due time (then that chain is presumed lost).
        """
        with _translate_errors():
            reply = self._alert_begin(
                keys=[self.keys.alerted_key(ticket_id)],
                args=[
                    int(time.time() * 1000),
                    self._alert_hold_ms,
                    self._alert_grace_ms,
                    message_id,
                    "1" if self._at_least_once else "0",
                ],
            )
        verdict = AlertVerdict(_decode(reply[0]))
        if verdict == AlertVerdict.RESERVED:
            return AlertReservation(verdict, possible_repeat=_decode(reply[1]) == "1")
        if verdict == AlertVerdict.HELD:
            return AlertReservation(verdict, held_ms=int(reply[1]))
        return AlertReservation(verdict)

    def release_alert(self, ticket_id: str, message_id: str, retry_in_ms: int) -> None:
        """Give up an alert reservation until its retry, due in ``retry_in_ms``."""
        due_ms = int(time.time() * 1000) + retry_in_ms
        with _translate_errors():
            self._alert_release(keys=[self.keys.alerted_key(ticket_id)], args=[due_ms, message_id])

    def finish_alert(self, ticket_id: str, outcome: str, reason: str = "") -> None:
        """Record an alert's final outcome (``sent``, ``mock`` or ``failed``) for good."""
        ticket_key = self.keys.ticket_key(ticket_id)
        with _translate_errors(), self.client.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.alerted_key(ticket_id), outcome)
            pipe.hset(ticket_key, "alert", outcome)
            if reason:
                pipe.hset(ticket_key, "alert_reason", reason)
            pipe.zrem(self.keys.alerts_pending, ticket_id)
            pipe.execute()

    def stranded(self, older_than_s: float) -> tuple[list[str], list[str]]:
        """Find work that may have lost its message, not re-sent in the last ``older_than_s``.

        Returns:
            ``(tickets, alerts)``: ids of tickets pending (or processing without a live lock)
            since before the cutoff, and of completed tickets whose alert is still undelivered
            with no post in progress and no retry scheduled (a live retry chain is not stranded).
        """
        k = self.keys
        cutoff = time.time() - older_than_s
        with _translate_errors():
            pending = self.client.zrangebyscore(k.pending, "-inf", cutoff)
            processing = self.client.zrangebyscore(k.processing, "-inf", cutoff)
            alerts = [_decode(a) for a in self.client.zrangebyscore(k.alerts_pending, "-inf", cutoff)]
            pipe = self.client.pipeline(transaction=False)
            for ticket_id in processing:
                pipe.exists(k.lock_key(_decode(ticket_id)))
            locked = pipe.execute() if processing else []
            unlocked = [t for t, held in zip(processing, locked, strict=True) if not held]
            states = self.client.mget([k.alerted_key(a) for a in alerts]) if alerts else []
            self.client.zremrangebyscore(k.swept, "-inf", cutoff)
            recent = {_decode(t) for t in self.client.zrange(k.swept, 0, -1)}
        tickets = [t for t in map(_decode, [*pending, *unlocked]) if t not in recent]
        now_ms = time.time() * 1000
        idle = [
            a
            for a, state in zip(alerts, states, strict=True)
            if a not in recent and not self._alert_in_progress(state, now_ms, older_than_s * 1000)
        ]
        return tickets, idle

    def _alert_in_progress(self, raw: bytes | str | None, now_ms: float, grace_ms: float) -> bool:
        """Tell whether an alert state (see ``alert_begin.lua``) has a live post or retry."""
        if raw is None:
            return False
        state, _, rest = _decode(raw).partition(":")
        at_ms = float(rest.partition(":")[0] or 0)
        if state == "sending":
            return now_ms - at_ms <= self._alert_hold_ms
        if state == "waiting":
            return now_ms < at_ms + grace_ms
        return True  # final: nothing left to send

    def queue_backlog(self, queue: str) -> int:
        """Return how many messages wait in Dramatiq's Redis lists of ``queue`` (0 when not on Redis)."""
        full, _ = self.keys.queue_keys(queue)
        if not full:
            return 0
        with _translate_errors():
            return int(self.client.llen(full)) + int(self.client.llen(f"{full}.DQ"))

    def mark_swept(self, ids: list[str]) -> None:
        """Remember that messages were re-sent for ``ids`` just now."""
        if ids:
            with _translate_errors():
                self.client.zadd(self.keys.swept, dict.fromkeys(ids, time.time()))

    def mark_worker_ready(self, name: str) -> None:
        """Record that worker process ``name`` has loaded its engine (entries older than a day go)."""
        now = time.time()
        with _translate_errors(), self.client.pipeline(transaction=False) as pipe:
            pipe.zadd(self.keys.workers_ready, {name: now})
            pipe.zremrangebyscore(self.keys.workers_ready, "-inf", now - 86_400)
            pipe.execute()

    def worker_ready_since(self, since: float) -> bool:
        """Return whether a worker process loaded its engine at or after ``since`` (Unix seconds)."""
        with _translate_errors():
            return bool(self.client.zcount(self.keys.workers_ready, since, "+inf"))

    def take_sweep_turn(self, interval_s: float) -> bool:
        """Return True for one caller per ``interval_s`` across all workers."""
        with _translate_errors():
            return bool(self.client.set(self.keys.sweep_lock, "1", nx=True, ex=max(1, int(interval_s))))

    def ticket_fields(self, ticket_id: str) -> dict[str, str]:
        """Return the raw ticket hash (text and decision fields) or raise ``TicketNotFound``."""
        with _translate_errors():
            raw = self.client.hgetall(self.keys.ticket_key(ticket_id))
        if not raw:
            raise TicketNotFound(ticket_id)
        return {_decode(k): _decode(v) for k, v in raw.items()}

    def status(self, ticket_id: str) -> dict[str, Any]:
        """Return the status document of a ticket as JSON-ready data (raises ``TicketNotFound``)."""
        document: dict[str, Any] = msgspec.to_builtins(status_document(self.ticket_fields(ticket_id)))
        return document

    def corrected_tickets(self) -> list[dict[str, str]]:
        """Return the raw hashes of every corrected ticket, oldest correction first."""
        with _translate_errors():
            ids = self.client.zrange(self.keys.corrections, 0, -1)
            pipe = self.client.pipeline(transaction=False)
            for ticket_id in ids:
                pipe.hgetall(self.keys.ticket_key(_decode(ticket_id)))
            hashes = pipe.execute() if ids else []
        return [{_decode(k): _decode(v) for k, v in raw.items()} for raw in hashes if raw]


@contextmanager
def _translate_errors() -> Iterator[None]:
    try:
        yield
    except _REDIS_ERRORS as ex:
        raise _unavailable(ex) from ex


def _unavailable(ex: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"Redis unavailable: {ex}")
