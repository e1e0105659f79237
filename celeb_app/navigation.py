"""The app's pages, in one table, and how each page starts.

``PAGES`` is the only list of pages: app.py builds its navigation from it,
and every link to a page (:func:`link`) takes the page's icon from it.
Adding a page: its file in ``pages/``, one row here, its test file.

Every page file starts with ``navigation.start(__file__)``: through
app.py (see :func:`require_app`), and for an owner's page, only for the owner.
"""

from __future__ import annotations

import runpy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from celeb_app import access

#: The folder of app.py; a page's path is relative to it.
APP_DIR = Path(__file__).resolve().parent.parent
APP_FILE = APP_DIR / "app.py"


@dataclass(frozen=True)
class AppPage:
    """One row of the page table."""

    path: str  #: the page's file, relative to app.py's folder; its name is the page's URL
    title: str  #: in the navigation and the browser's tab
    icon: str  #: in the navigation and in every link to the page
    owner: bool  #: only the owner's navigation shows it; a visitor opening it is told how to unlock

    @property
    def file(self) -> Path:
        """Absolute, so that it resolves whichever script Streamlit started with."""
        return APP_DIR / self.path

    @property
    def name(self) -> str:
        return Path(self.path).stem


#: Every page, in the navigation's order; the first is the default (what the app's root URL shows).
PAGES = (
    AppPage("pages/classify.py", "Classify", ":material/face:", owner=False),
    AppPage("pages/dataset.py", "Dataset", ":material/photo_library:", owner=True),
    AppPage("pages/train.py", "Train", ":material/model_training:", owner=True),
    AppPage("pages/strangers.py", "Strangers", ":material/group_add:", owner=True),
)


def page(name: str) -> AppPage:
    """The row of the page whose file is ``pages/<name>.py``.

    >>> page("train").title
    'Train'
    """
    for row in PAGES:
        if row.name == name:
            return row
    raise KeyError(f"no page {name!r} in celeb_app/navigation.py's PAGES")


def pages_for(owner: bool) -> list[st.Page]:
    """The pages of this session's navigation (for app.py's ``st.navigation``).

    A visitor's navigation lists the owner's pages as hidden, not at all: opened by their address
    they say they are the owner's and how to unlock (:func:`start`), where a missing page gave
    Streamlit's bare "Page not found".
    """
    return [
        st.Page(
            row.file,
            title=row.title,
            icon=row.icon,
            default=index == 0,
            visibility="hidden" if row.owner and not owner else "visible",
        )
        for index, row in enumerate(PAGES)
    ]


def link(name: str, label: str) -> None:
    """A link to the page ``name``, with its icon."""
    row = page(name)
    st.page_link(row.file, label=label, icon=row.icon)


def start(page_file: str) -> None:
    """The first line of every page file: ``navigation.start(__file__)``.

    Runs the page through app.py (:func:`require_app`); an owner's page shows
    a visitor why and how to unlock, and nothing else.
    """
    row = next((row for row in PAGES if row.file == Path(page_file).resolve()), None)
    if row is None:
        raise KeyError(f"{page_file} has no row in celeb_app/navigation.py's PAGES")
    require_app()
    if row.owner and not access.is_owner():
        st.title("For the owner only")
        st.info(access.HOW_TO_UNLOCK, icon=":material/lock:")
        link(PAGES[0].name, f"Go to {PAGES[0].title}")
        st.stop()


# Script runs of one session happen on one thread at a time.
_run = threading.local()


@contextmanager
def running_app() -> Iterator[None]:
    """Marks, for this script run only, that app.py is running the page."""
    _run.via_app = True
    try:
        yield
    finally:
        _run.via_app = False


def require_app() -> None:
    """Run a page that Streamlit started alone through app.py instead.

    Why: the pages live in a folder named ``pages/`` (the project's top level
    is fixed), and Streamlit decides from that folder's name alone, once per
    server, that the app uses its legacy ``pages/`` directory (its
    ``PagesManager.uses_pages_directory``; the docs call that way "legacy",
    and ``st.navigation`` replaces it). Until the root URL has been opened
    once, a visitor of /dataset then gets the page file alone: file names as
    navigation, no model card, no error handling. Running app.py here switches
    the server to app.py's navigation, which then shows the page asked for.
    A folder with any other name would need none of this.
    """
    if getattr(_run, "via_app", False):
        return
    runpy.run_path(str(APP_FILE), run_name="__main__")
    st.stop()
