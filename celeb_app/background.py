"""Finding faces while the owner goes on using the app.

Searching a few hundred photos takes a minute or more. It runs in a thread of
the server, one per dataset folder and engine at a time, so the page stays
usable, the owner may go to another page or close the tab, and the result
is there when they come back. The store commits the search in batches: a
server stopped midway loses at most the photos in flight, and the next
search does the rest.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from celeb import CelebError, CropReport, DatasetStore
from celeb_app.messages import logger, message


@dataclass
class Search:
    """One search for faces: its progress while it runs, then its report or what went wrong."""

    engine: str
    done: int = 0
    total: int = 0
    report: CropReport | None = None
    problem: str | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def running(self) -> bool:
        return not self.finished.is_set()

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the end; whether it has ended (for tests and scripts)."""
        return self.finished.wait(seconds)


_lock = threading.Lock()


@st.cache_resource(show_spinner=False)
def _searches() -> dict[tuple[str, str], Search]:
    """Every search of this server process, by (dataset folder, engine)."""
    return {}


def _key(store: DatasetStore, engine: str) -> tuple[str, str]:
    return (str(Path(store.root).resolve()), engine)


def start_search(store: DatasetStore, engine: str) -> Search:
    """Start finding faces in ``store``'s new photos with ``engine``; the search already running
    there, if any. A read-only (visitor's) store is refused by the store, as ever."""
    store.require_writable()
    with _lock:
        searches = _searches()
        key = _key(store, engine)
        if key in searches and searches[key].running:
            return searches[key]
        search = searches[key] = Search(engine)

    def progress(done: int, total: int) -> None:
        search.done, search.total = done, total

    def work() -> None:
        try:
            search.report = store.find_faces(engine=engine, progress=progress)
        except CelebError as exc:
            search.problem = message(exc)
        except Exception as exc:  # a thread's error would otherwise vanish: say it, log it
            logger.exception("finding faces failed")
            search.problem = (
                f"Finding faces failed ({exc.__class__.__name__}); the app's log has the details."
            )
        finally:
            search.finished.set()

    threading.Thread(target=work, name=f"celeb-find-faces-{engine}", daemon=True).start()
    return search


def current_search(store: DatasetStore, engine: str) -> Search | None:
    """The search running, or ended and not yet reported, for ``store`` and ``engine``."""
    with _lock:
        return _searches().get(_key(store, engine))


def forget_search(store: DatasetStore, engine: str) -> None:
    """Drop an ended search once its result has been shown."""
    with _lock:
        searches = _searches()
        key = _key(store, engine)
        if key in searches and not searches[key].running:
            del searches[key]
