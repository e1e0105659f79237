"""Classifying uploaded photos on a page: each photo under a classify slot, many under one progress
bar. The Classify page's results (``classify_view``) and the Strangers page classify through here.

At most one classification per core runs at once (``resources.classify_slots``); a photo waiting
for a slot says it is queued. A photo that cannot be read, or fails, is named in an error and the
others go on; nothing of a visitor's photo goes to the log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import streamlit as st

from celeb import CelebError
from celeb_app import resources
from celeb_app.messages import logger
from celeb_app.text import md

if TYPE_CHECKING:
    from celeb import Classifier, PhotoPrediction

Result = TypeVar("Result")


def classify_photo(
    name: str, data: bytes, classifier: Callable[[], Classifier], working: str = ""
) -> PhotoPrediction | None:
    """The photo ``data`` classified under a classify slot (``classifier()`` once the slot is held),
    or None after an error message naming it. ``working``: a spinner's text while it runs."""
    waiting = st.empty()

    def queued(place: int) -> None:
        waiting.info(
            f"Queued: the server is busy with other photos; yours is number {place} in line.",
            icon=":material/hourglass_top:",
        )

    try:
        with resources.classify_slots().hold(on_wait=queued):
            waiting.empty()
            with st.spinner(working) if working else contextlib.nullcontext():
                return classifier().classify(data)
    except CelebError as exc:
        st.error(f"**{md(name)}** cannot be read: {exc}", icon=":material/broken_image:")
    except Exception as exc:  # one odd photo must not stop the others
        # Logged without the file name or bytes: a visitor's photo stays out of the log.
        logger.error("classifying an uploaded photo failed: %s", exc.__class__.__name__)
        st.error(f"**{md(name)}** could not be processed. Try another photo.", icon=":material/error:")
    return None


def classify_many(
    photos: Sequence[tuple[str, bytes]], text: str, classify: Callable[[str, bytes], Result | None]
) -> list[tuple[str, bytes, Result]]:
    """Each of ``photos`` (name, bytes) through ``classify`` (:func:`classify_photo`, or a page's
    own around it; None: it could not, and said why), under one progress bar reading ``text``: the
    others with their results, in order."""
    bar = st.progress(0.0, text=f"{text}…")
    results = []
    for done, (name, data) in enumerate(photos, start=1):
        result = classify(name, data)
        if result is not None:
            results.append((name, data, result))
        bar.progress(done / len(photos), text=f"{text}: {done}/{len(photos)}")
    bar.empty()
    return results
