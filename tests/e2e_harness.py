"""What the browser tests share (test_e2e.py, test_e2e_database.py): the app's servers, Playwright's
``Page`` and ``expect``, waits, and the screenshots of their tabs. Their fixtures (``servers``,
``browser``, ``page``) are in e2e_fixtures.py.

Importing this module skips the test module that imports it where Debian's chromium or the
playwright package is missing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.serving import AppServer, ReverseProxy, ServingError, nginx_available

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.is_file():
    pytest.skip(
        f"browser tests need Debian's chromium at {CHROMIUM} (apt install chromium)", allow_module_level=True
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need the playwright package (requirements-dev.txt)"
)
Page, expect, sync_playwright = sync_api.Page, sync_api.expect, sync_api.sync_playwright

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
MODEL = ROOT / "models" / "model.joblib"

#: First render on a loaded 2-core machine imports OpenCV, scikit-learn and friends.
SLOW = 60_000
#: Training the default models on the small synthetic set.
TRAINING = 120_000

#: Screenshot names of test_e2e.py's page tests; others are named after the test (e2e_fixtures.page).
SCREENSHOTS = {
    "test_classify_names_a_face_and_reports_a_bad_file": "classify",
    "test_dataset_add_person_photos_find_faces_and_reject_a_crop": "dataset",
    "test_train_shows_the_report_and_the_confusion_heatmap": "train",
}


# ---------------------------------------------------------------- the server


@dataclass(frozen=True)
class Server:
    """The app, and the reverse proxy in front of it where the test needs remote visitors."""

    app: AppServer
    proxy: ReverseProxy | None = None

    @property
    def url(self) -> str:
        """The app's own address: a browser there is on the app's computer (the owner)."""
        return self.app.url("127.0.0.1")

    @property
    def public_url(self) -> str:
        """The proxy's address: a browser there is a remote visitor, as on a public server."""
        assert self.proxy is not None, "start the server with proxied=True"
        return self.proxy.url

    @property
    def dataset(self) -> Path:
        return self.app.dataset

    @property
    def models(self) -> Path:
        return self.app.models

    @property
    def tmp(self) -> Path:
        return self.app.tmp

    @property
    def log(self) -> Path:
        return self.app.log

    def log_tail(self, chars: int = 4000) -> str:
        return self.app.log_tail(chars)


class Servers:
    """Starts ``streamlit run app.py`` on tmp folders (and nginx in front); stops what it started."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._started: dict[str, Server] = {}

    def start(
        self,
        name: str,
        prepare: Callable[[Path], None] | None = None,
        *,
        model: Callable[[Path], None] | None = None,
        secrets: str = "",
        proxied: bool = False,
    ) -> Server:
        """A server on tmp folders: ``prepare`` fills the dataset, ``model`` writes models/model.joblib
        (default: a copy of the repository's), ``secrets`` is the text of its secrets.toml;
        ``proxied`` puts nginx in front of it."""
        if proxied and not nginx_available():
            pytest.skip("visitor tests need Debian's nginx in front of the app (apt install nginx-light)")
        root = self._tmp.mktemp(f"e2e-{name}")
        app = AppServer(root / "app", secrets=secrets)
        app.models.mkdir(parents=True)
        app.dataset.mkdir(parents=True)
        (model or (lambda path: shutil.copy2(MODEL, path)))(app.models / "model.joblib")
        if prepare is not None:
            prepare(app.dataset)
        server = Server(app, ReverseProxy(root / "nginx", app.port) if proxied else None)
        self._started[server.url] = server  # stopped at the end even if it fails to start
        try:
            app.start()
            if server.proxy is not None:
                server.proxy.start()
        except ServingError as exc:
            pytest.fail(str(exc))
        return server

    def stop(self, server: Server) -> None:
        self._stop(self._started.pop(server.url))

    def stop_all(self) -> None:
        while self._started:
            self._stop(self._started.popitem()[1])

    @staticmethod
    def _stop(server: Server) -> None:
        if server.proxy is not None:
            server.proxy.stop()
        server.app.stop()


# ---------------------------------------------------------------- a tab


def full_page_screenshot(tab: Page, path: Path) -> None:
    """Save a screenshot of all of the tab's page, however long it is."""
    # Streamlit scrolls inside its main container, not the document: grow the
    # viewport to the content's height so that the screenshot holds all of it.
    height = tab.evaluate(
        """() => Math.max(document.documentElement.scrollHeight,
            ...[...document.querySelectorAll('[data-testid="stMain"], [data-testid="stSidebarContent"]')]
                .map(e => e.scrollHeight))"""
    )
    width = (tab.viewport_size or {}).get("width", 1400)
    tab.set_viewport_size({"width": width, "height": min(max(int(height) + 40, 1000), 12000)})
    tab.screenshot(path=str(path), full_page=True, animations="disabled")


def open_app(tab: Page, server: Server, path: str = "") -> None:
    """Open a page of the app and wait for its first run to finish."""
    tab.goto(f"{server.url}/{path}")
    expect(tab.get_by_test_id("stSidebarNav")).to_be_visible()
    expect(tab.locator("h1")).to_have_count(1)
    running_done(tab)


def running_done(tab: Page) -> None:
    """The script run has finished: no "Running…" widget, no stale (faded) elements left.

    Call it after waiting for something the run shows, so that the run has started.
    """
    expect(tab.get_by_test_id("stStatusWidget")).to_have_count(0)
    expect(tab.locator('[data-testid="stElementContainer"][data-stale="true"]')).to_have_count(0)


def assert_no_failure(tab: Page, server: Server) -> None:
    """No traceback on the page or in the server's log, no exception box, no "Something went wrong"."""
    running_done(tab)
    expect(tab.get_by_test_id("stException")).to_have_count(0)
    assert "Traceback" not in server.log.read_text(errors="replace"), server.log_tail()
    body = tab.locator("body").inner_text()
    assert "Traceback" not in body, server.log_tail()
    assert "Something went wrong" not in body, server.log_tail()


def photo_picker(tab: Page):
    """The Dataset page's picker of a person's photos (not the CSV or folder pickers)."""
    return tab.get_by_test_id("stFileUploader").filter(has_text="or zips of photos")


def add_person(tab: Page, name: str) -> None:
    tab.get_by_label("Add a person").fill(name)
    tab.get_by_role("button", name="Add person").click()
    expect(tab.get_by_text(f"Added {name}.")).to_be_visible()
    expect(tab.get_by_role("combobox", name="Person")).to_have_value(name)
    running_done(tab)
