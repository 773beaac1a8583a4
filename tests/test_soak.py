"""The soak in its quick form: a ticket stream through worker kills, a Redis restart and Slack faults."""

from __future__ import annotations

import pytest

from tests.test_benchmarks import run_quick

pytestmark = pytest.mark.slow


def test_quick_soak_completes_everything_once_and_alerts_every_urgent_ticket() -> None:
    # Given `benchmarks/soak.py --quick`: 45 s of tickets while, on a schedule, the worker is SIGKILLed
    # three times, Redis (its own, AOF on) stops for 5 s, and the fake Slack answers 500, then 429
    result = run_quick("soak")
    events = [e["event"] for e in result["events"]]
    assert events.count("worker SIGKILLed") == 3 and "Redis started" in events
    assert result["slack_answers"].get("500", 0) > 0 and result["slack_answers"].get("429", 0) > 0

    # Then every accepted ticket completed exactly once
    assert result["accepted"] > 0
    assert result["completed_once"] == result["accepted"]
    assert (result["completed_more_than_once"], result["failed"], result["unfinished"]) == (0, 0, 0)
    # And every urgent ticket reached Slack once or twice, every second copy labelled, no calm one did
    alerted = result["urgent_alerted"]
    assert result["urgent"] > 0 and alerted["1"] + alerted["2"] == result["urgent"]
    assert (alerted["0"], alerted["3+"]) == (0, 0)
    assert result["second_copies"] == alerted["2"] and result["second_copies_unlabelled"] == 0
    assert result["non_urgent_alerted"] == 0
    # And the API answered only 202, or 503 while Redis was down, and never failed to answer
    assert set(result["requests"]) == {"202", "503"}
    assert result["503_outside_the_outage"] == 0
    assert result["passed"] and all(result["checks"].values())
