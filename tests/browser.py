"""A real headless browser for page tests: Debian's chromium driven by selenium.

The ``browser`` fixture (defined as ``browser_fixture``) starts chromium through
Debian's chromedriver (same build, so they always match; nothing is downloaded) with a
fresh profile, and quits it at teardown. ``make test`` installs both packages when missing;
locally the tests skip without them, in CI they fail. ``screenshot(driver, name)`` keeps a
PNG under ``tests/artifacts/`` (gitignored) and prints its path.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import CI

__all__ = ["ARTIFACTS", "browser_fixture", "screenshot", "wait_until"]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Where screenshots go (kept by CI as test artefacts, ignored by git).
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
#: Seconds a page gets to show what a test waits for (the queue page polls every 2 s).
PAGE_TIMEOUT_S = 20
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)


def _chromium_options(profile: Path) -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return options


@pytest.fixture(name="browser")
def browser_fixture(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """A headless chromium with a fresh profile under ``tmp_path``."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        if CI:
            pytest.fail("chromium and chromedriver are missing (make test installs them)")
        pytest.skip("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    driver = webdriver.Chrome(
        options=_chromium_options(tmp_path / "chromium-profile"),
        service=Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log")),
    )
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(driver: webdriver.Chrome, condition: Callable[[webdriver.Chrome], Any]) -> Any:
    """Wait for ``condition(driver)`` to be truthy and return it; fail after ``PAGE_TIMEOUT_S``.

    An element missing or replaced while the page re-renders (it polls) counts as "not yet".
    """
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, PAGE_TIMEOUT_S, poll_frequency=0.1, ignored_exceptions=ignored).until(
        condition
    )


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    """Save the visible page as ``tests/artifacts/<name>.png`` and print where."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path
