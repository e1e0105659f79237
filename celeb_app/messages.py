"""Errors and notes on the page: never a traceback, and a message that survives a rerun."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import streamlit as st

from celeb import CelebError

logger = logging.getLogger("celeb_app")


def message(exc: BaseException) -> str:
    """An engine error's message, as a sentence."""
    text = str(exc).strip() or exc.__class__.__name__
    return text[0].upper() + text[1:]


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Show errors as messages, never as a traceback (wraps every page once, in app.py)."""
    try:
        yield
    except CelebError as exc:
        st.error(message(exc), icon=":material/error:")
    except Exception:  # Streamlit's own rerun/stop signals are BaseException and pass through
        logger.exception("a page failed")
        st.error(
            "Something went wrong on this page. Try again, or reload the page; "
            "if it keeps happening, the app's log has the details.",
            icon=":material/error:",
        )


def safe_callback(function: Callable[..., None]) -> Callable[..., None]:
    """A widget callback whose errors are shown on the page instead of a traceback.

    Callbacks run before the page script, outside :func:`friendly_errors`;
    their errors are kept and shown by :func:`show_callback_errors`.
    """

    @functools.wraps(function)
    def run(*args: object, **kwargs: object) -> None:
        try:
            function(*args, **kwargs)
        except CelebError as exc:
            st.session_state.setdefault("callback_errors", []).append(message(exc))
        except Exception:
            logger.exception("a callback failed")
            st.session_state.setdefault("callback_errors", []).append(
                "Something went wrong; nothing was changed. Try again, or reload the page."
            )

    return run


def show_callback_errors() -> None:
    for text in st.session_state.pop("callback_errors", []):
        st.error(text, icon=":material/error:")


def flash(text: str) -> None:
    """A success message shown at the top of the page after the next rerun."""
    st.session_state.setdefault("flash", []).append(text)


def show_flash() -> None:
    for text in st.session_state.pop("flash", []):
        st.success(text, icon=":material/check_circle:")
