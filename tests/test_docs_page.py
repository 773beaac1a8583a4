"""/docs in a real browser: Swagger UI lists every operation and "Try it out" reaches the API."""

from __future__ import annotations

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser import browser_fixture, screenshot, wait_until  # noqa: F401  (registers browser)

API_KEY = "docs-s3cret"


def _operations_in(spec: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, operations in spec["paths"].items() for method in operations}


def _operations_on_page(browser: WebDriver) -> set[tuple[str, str]]:
    blocks = browser.find_elements(By.CSS_SELECTOR, ".opblock")
    return {
        (
            block.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text,
            block.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path"),
        )
        for block in blocks
    }


def _schemas_on_page(browser: WebDriver) -> set[str]:
    titles = browser.find_elements(By.CSS_SELECTOR, ".models .json-schema-2020-12__title")
    return {title.text for title in titles}


def _authorize(browser: WebDriver, api_key: str) -> None:
    browser.find_element(By.CSS_SELECTOR, ".auth-wrapper button.authorize").click()
    field = wait_until(browser, lambda b: b.find_element(By.CSS_SELECTOR, ".auth-container input"))
    field.send_keys(api_key)
    browser.find_element(By.CSS_SELECTOR, ".auth-container button[type=submit]").click()
    wait_until(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".auth-container .btn-done"))
    browser.find_element(By.CSS_SELECTOR, ".auth-container .btn-done").click()


def _try_submit_ticket(browser: WebDriver) -> str:
    """Open POST /tickets, press "Try it out" then "Execute"; return the shown status code."""
    operation = browser.find_element(By.CSS_SELECTOR, ".opblock-post")
    operation.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait_until(browser, lambda b: operation.find_element(By.CSS_SELECTOR, "button.try-out__btn")).click()
    wait_until(browser, lambda b: operation.find_element(By.CSS_SELECTOR, "button.execute")).click()
    status = wait_until(
        browser,
        lambda b: operation.find_elements(
            By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_status"
        ),
    )
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", status[0])
    return status[0].text.strip()


@pytest.mark.parametrize("api_key", ["", API_KEY], ids=["open", "api-key"])
def test_swagger_ui_lists_every_operation_and_try_it_out_submits_a_ticket(
    browser: WebDriver, start_api, api_key: str
) -> None:
    # Given MVR's API, with or without MVR_API_KEY
    base = start_api(MVR_API_KEY=api_key)

    # When a browser opens /docs
    browser.get(f"{base}/docs")
    wait_until(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".opblock"))
    variant = "api-key" if api_key else "open"
    screenshot(browser, f"docs-{variant}")

    # Then every operation and every schema of the OpenAPI document is listed
    spec = httpx.get(f"{base}/openapi.json").json()
    assert _operations_on_page(browser) == _operations_in(spec)
    assert _schemas_on_page(browser) == set(spec["components"]["schemas"])
    assert "Unable to render" not in browser.page_source

    # And "Try it out" on POST /tickets (after Authorize when a key is required) answers 202
    if api_key:
        _authorize(browser, api_key)
    assert _try_submit_ticket(browser) == "202"
    screenshot(browser, f"docs-{variant}-try-it-out")
    queue = httpx.get(f"{base}/queue", headers={"X-API-Key": api_key}).json()
    assert queue["total"] == 1
