"""/ui in a real browser: the live queue, a ticket's detail, filters and the lifecycle buttons.

Each test starts the real API and a worker (baseline backend: the cue words below decide S).
"""

from __future__ import annotations

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.browser import browser_fixture, screenshot, wait_until  # noqa: F401  (registers browser)
from tests.conftest import wait_for_status

API_KEY = "queue-s3cret"
#: Subjects whose S differ (baseline cues): most urgent first.
TICKETS = (
    "Production outage, everything is down, fix it asap",
    "I was charged twice, I want a refund, this is unacceptable",
    "How do I change my password?",
)


class Api:
    """The running MVR, as the tests check it (``X-API-Key`` when set)."""

    def __init__(self, base: str, api_key: str = "") -> None:
        self.base = base
        self._headers = {"X-API-Key": api_key} if api_key else {}

    def get(self, path: str) -> dict:
        response = httpx.get(f"{self.base}{path}", headers=self._headers, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def status(self, ticket_id: str) -> dict:
        return self.get(f"/tickets/{ticket_id}/status")

    def submit(self, subject: str, body: str = "") -> str:
        ticket = {"subject": subject, "body": body} if body else {"subject": subject}
        response = httpx.post(f"{self.base}/tickets", json=ticket, headers=self._headers)
        assert response.status_code == 202, response.text
        return response.json()["ticket_id"]

    def triaged(self, *subjects: str) -> list[str]:
        """Submit ``subjects`` and wait until each is completed; return their ids."""
        ids = [self.submit(subject) for subject in subjects]
        for ticket_id in ids:
            wait_for_status(lambda t=ticket_id: self.status(t), "completed")
        return ids


@pytest.fixture
def mvr(start_worker, start_api, request: pytest.FixtureRequest) -> Api:
    """A running MVR (API and worker); ``@pytest.mark.parametrize("mvr", [key], indirect=True)``."""
    api_key = getattr(request, "param", "")
    start_worker(threads=2)
    return Api(start_api(MVR_API_KEY=api_key), api_key)


def _rows(browser: WebDriver) -> list[str]:
    """The ticket ids the queue shows, top to bottom (read in one step: the page re-renders)."""
    script = "return [...document.querySelectorAll('#queue tbody tr[data-ticket-id]')]"
    return browser.execute_script(script + ".map((row) => row.dataset.ticketId)")


def _row(browser: WebDriver, ticket_id: str):
    return browser.find_element(By.CSS_SELECTOR, f'#queue tr[data-ticket-id="{ticket_id}"]')


def _text_of(browser: WebDriver, css: str) -> str:
    return browser.find_element(By.CSS_SELECTOR, css).text


def _enter_api_key(browser: WebDriver, api_key: str) -> None:
    field = wait_until(browser, lambda b: b.find_element(By.CSS_SELECTOR, "#api-key-dialog[open] #api-key"))
    field.send_keys(api_key)
    browser.find_element(By.CSS_SELECTOR, "#api-key-dialog button[type=submit]").click()


@pytest.mark.parametrize("mvr", [API_KEY], indirect=True)
def test_queue_page_asks_for_the_key_and_shows_tickets_most_urgent_first(
    browser: WebDriver, mvr: Api
) -> None:
    # Given three triaged tickets and MVR_API_KEY set
    ids = mvr.triaged(*TICKETS)

    # When a browser opens / and gives the key it is asked for
    browser.get(f"{mvr.base}/")
    assert browser.current_url == f"{mvr.base}/ui"
    _enter_api_key(browser, API_KEY)

    # Then the queue shows them most urgent first, as /queue orders them
    wait_until(browser, lambda b: len(_rows(b)) == 3)
    queue = mvr.get("/queue")["items"]
    assert _rows(browser) == [item["ticket_id"] for item in queue] == ids
    scores = [float(_row(browser, t).find_element(By.CSS_SELECTOR, ".score").text.split()[0]) for t in ids]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]

    # And a new ticket appears without a reload (the page polls), with its subject and excerpt
    browser.execute_script("window.notReloaded = true")
    newest = mvr.submit("Is there a dark mode?", body="I work at night and the white pages hurt my eyes.")
    wait_until(browser, lambda b: newest in _rows(b))
    assert browser.execute_script("return window.notReloaded") is True
    assert "Is there a dark mode? — I work at night" in _row(browser, newest).text

    # And a ticket's detail shows its scores and the explanation
    _row(browser, ids[0]).click()
    doc = mvr.status(ids[0])
    wait_until(browser, lambda b: _text_of(b, "#detail-title").endswith(ids[0]))
    assert _text_of(browser, "#detail-category") == doc["category"]
    assert _text_of(browser, "#detail-text") == TICKETS[0]
    explanation = _text_of(browser, "#explanation")
    assert doc["explanation"]["backend"] in explanation
    assert doc["explanation"]["urgency"]["cues"]
    assert all(cue in _text_of(browser, "#detail-cues") for cue in doc["explanation"]["urgency"]["cues"])
    assert len(browser.find_elements(By.CSS_SELECTOR, "#detail .scores tr")) == len(doc["scores"])
    screenshot(browser, "queue")


def _wait_for_detail_status(browser: WebDriver, status: str) -> None:
    wait_until(browser, lambda b: _text_of(b, "#detail-status") == status)


def test_queue_page_buttons_take_resolve_requeue_and_correct(browser: WebDriver, mvr: Api) -> None:
    # Given three triaged tickets and the queue page
    ids = mvr.triaged(*TICKETS)
    browser.get(f"{mvr.base}/ui")
    wait_until(browser, lambda b: len(_rows(b)) == 3)

    # When "take next" is pressed, the most urgent ticket is taken
    browser.find_element(By.ID, "take-next").click()
    _wait_for_detail_status(browser, "taken")
    assert _text_of(browser, "#detail-title").endswith(ids[0])
    assert mvr.status(ids[0])["status"] == "taken"

    # When "resolve" is pressed, it is resolved
    browser.find_element(By.ID, "resolve").click()
    _wait_for_detail_status(browser, "resolved")
    assert mvr.status(ids[0])["status"] == "resolved"

    # When the next one is taken with the keyboard ("n") and put back ("b"), it is queued again
    browser.find_element(By.TAG_NAME, "body").send_keys("n")
    _wait_for_detail_status(browser, "taken")
    assert mvr.status(ids[1])["status"] == "taken"
    browser.find_element(By.TAG_NAME, "body").send_keys("b")
    _wait_for_detail_status(browser, "completed")
    assert mvr.status(ids[1])["status"] == "completed"
    wait_until(browser, lambda b: ids[1] in _rows(b))

    # When another category is chosen and saved, the correction is recorded beside MVR's own
    predicted = mvr.status(ids[2])["category"]
    _row(browser, ids[2]).click()
    wait_until(browser, lambda b: _text_of(b, "#detail-title").endswith(ids[2]))
    picker = Select(browser.find_element(By.ID, "correct-category"))
    corrected = next(option.text for option in picker.options if option.text != predicted)
    picker.select_by_visible_text(corrected)
    browser.find_element(By.ID, "correct").click()
    wait_until(browser, lambda b: b.find_elements(By.ID, "detail-correction"))
    doc = mvr.status(ids[2])
    assert doc["correction"]["category"] == corrected and doc["category"] == predicted
    wait_until(
        browser,
        lambda b: _row(b, ids[2]).find_element(By.CSS_SELECTOR, ".category").text.startswith(corrected),
    )
    screenshot(browser, "queue-corrected")


def _queue_ids(api: Api, query: str = "") -> list[str]:
    return [item["ticket_id"] for item in api.get(f"/queue?{query}")["items"]]


def test_queue_page_filters_by_status_and_category(browser: WebDriver, mvr: Api) -> None:
    # Given three triaged tickets, the most urgent one taken
    ids = mvr.triaged(*TICKETS)
    taken = mvr.get("/tickets/next")["ticket_id"]
    browser.get(f"{mvr.base}/ui")
    wait_until(browser, lambda b: _rows(b) == _queue_ids(mvr))

    # When the status filter says "taken", only the taken ticket is listed
    Select(browser.find_element(By.ID, "filter-status")).select_by_value("taken")
    wait_until(browser, lambda b: _rows(b) == [taken])

    # When it says "any" again and a category is chosen, only that category's tickets are listed
    Select(browser.find_element(By.ID, "filter-status")).select_by_value("")
    wanted = mvr.status(ids[-1])["category"]
    Select(browser.find_element(By.ID, "filter-category")).select_by_value(wanted)
    expected = _queue_ids(mvr, f"category={wanted}")
    assert ids[-1] in expected and all(mvr.status(t)["category"] == wanted for t in expected)
    wait_until(browser, lambda b: _rows(b) == expected)


def test_queue_page_explains_the_models_urgency_parts(
    browser: WebDriver,
    start_worker,
    start_api,  # noqa: ANN001  (pytest fixtures)
) -> None:
    # Given a ticket triaged by the default models (embedding backend: tone and priority heads)
    start_worker(threads=2, MVR_BACKEND="embedding")
    mvr = Api(start_api())
    (ticket_id,) = mvr.triaged("The broker crashes after the upgrade and all messages are lost")
    urgency = mvr.status(ticket_id)["explanation"]["urgency"]

    # When its detail is opened
    browser.get(f"{mvr.base}/ui")
    wait_until(browser, lambda b: _rows(b) == [ticket_id])
    _row(browser, ticket_id).click()
    wait_until(browser, lambda b: _text_of(b, "#detail-title").endswith(ticket_id))

    # Then "Why" shows each part the formula names, as the status document has it
    for css, part in (("#detail-negative", "sentiment_negative"), ("#detail-priority", "priority_high")):
        assert abs(float(_text_of(browser, css)) - urgency[part]) <= 0.0005  # shown to 3 decimals
    assert "priority_high" in _text_of(browser, "#explanation code")
    screenshot(browser, "queue-embedding")
