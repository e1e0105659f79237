"""The browser tests' fixtures (test_e2e.py, test_e2e_database.py): the app's servers, Chromium, a tab.

conftest.py registers this module (``pytest_plugins``), so every test session loads it: the harness
(e2e_harness.py) is imported when a fixture first runs, not here, because importing it skips where
Chromium or Playwright is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from e2e_harness import Page, Servers


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """The app servers a test module starts (``servers.start``); all stopped after its last test."""
    from e2e_harness import Servers

    started = Servers(tmp_path_factory)
    yield started
    started.stop_all()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Debian's chromium, driven by Playwright; Playwright's waits are the harness's ``SLOW``."""
    from e2e_harness import CHROMIUM, SLOW, expect, sync_playwright

    from bench.serving import CHROMIUM_ARGS

    expect.set_options(timeout=SLOW)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    expect.set_options(timeout=None)  # Playwright's default again


@pytest.fixture
def page(browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser tab; a full-page screenshot of it is saved when the test ends (passed or not)."""
    from e2e_harness import ARTIFACTS, SCREENSHOTS, SLOW, full_page_screenshot

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(SLOW)
    tab = context.new_page()
    yield tab
    name = SCREENSHOTS.get(request.node.name, request.node.name.removeprefix("test_"))
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        full_page_screenshot(tab, ARTIFACTS / f"{name}.png")
    finally:
        context.close()
