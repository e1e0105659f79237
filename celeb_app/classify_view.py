"""The Classify page's results: each photo with its faces boxed and named, or many photos sorted
into a table of who is where.

Imported by the page only once there are photos: it brings NumPy, OpenCV and
(through the classifier) scikit-learn, which the first page does not need.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from celeb import (
    CLASSIFY_DETAILS_MAX_PHOTOS,
    DOUBT,
    ENGINES,
    SURE,
    TOP_CANDIDATES,
    FacePrediction,
    Label,
    OpenSetRule,
    SortedPhoto,
    SortReport,
    draw_boxes,
    group_strangers,
    grouping_distance,
    report_csv,
    sorted_photo,
    sorted_zip,
    thumbnail,
)
from celeb_app import access, resources
from celeb_app.charts import chart_height, distance_chart, probability_chart
from celeb_app.classifying import classify_many, classify_photo
from celeb_app.text import md, names, plural

if TYPE_CHECKING:
    from celeb import Classifier

SHOWN_MAX_SIDE = 1200


@dataclass
class PageRun:
    """One run of the page: the model and thresholds it classifies with, and the results it shows
    (keys of ``st.session_state["classified"]``; the others are forgotten after the run)."""

    model: resources.ActiveCard
    threshold: float
    strictness: str | None
    shown: set[tuple] = field(default_factory=set)

    def classifier(self) -> Classifier:
        return resources.classifier(self.model.key, self.threshold, self.strictness)


def classify(
    name: str, data: bytes, run: PageRun, picture: bool = True
) -> tuple[np.ndarray | None, tuple[int, int], list] | None:
    """The photo as shown (at most SHOWN_MAX_SIDE; None without ``picture``), its size as stored,
    and its faces; None after an error message naming it. Its key is added to ``run.shown``.

    Results are kept in this session only, for the photos it shows now, so
    moving a widget does not redo the work; nothing of a visitor's photo goes
    to disk, to the log, or to a cache other sessions share. At most one
    classification per core runs at once (:func:`classifying.classify_photo`).
    """
    key = (hashlib.sha256(data).hexdigest(), run.model.key, run.threshold, run.strictness, picture)
    kept = st.session_state.setdefault("classified", {})
    run.shown.add(key)
    if key not in kept:
        prediction = classify_photo(name, data, run.classifier, working="Looking for faces…")
        if prediction is None:
            return None
        photo = prediction.photo
        # Sorting many photos shows none of them: keeping their pictures would cost 4 MB a photo.
        shown = thumbnail(photo.rgb, SHOWN_MAX_SIDE) if picture else None
        kept[key] = (shown, photo.original_size, prediction.faces)
    return kept[key]


def forget_photos_not_shown(run: PageRun) -> None:
    kept = st.session_state.get("classified", {})
    for key in [key for key in kept if key not in run.shown]:
        del kept[key]


def face_label(number: int, face: FacePrediction) -> Label:
    if face.unknown:
        return Label(face.box, f"{number}. unknown", DOUBT)
    if face.person and face.distance is not None:  # named by distance: no probability to show
        return Label(face.box, f"{number}. {face.person}", SURE if face.clean else DOUBT)
    if face.person:
        return Label(
            face.box, f"{number}. {face.person} {face.probability:.0%}", SURE if face.clean else DOUBT
        )
    return Label(face.box, f"{number}. not sure", DOUBT)


def show_face(number: int, face: FacePrediction, rule: OpenSetRule | None) -> None:
    left, right = st.columns([1, 3], vertical_alignment="top")
    left.image(face.crop, caption=f"Face {number}", width="content")  # never blown up on a phone
    with right:
        if face.unknown:
            st.markdown(f"**Face {number}: unknown person.** {md(face.why[:1].upper() + face.why[1:])}.")
        elif face.person and face.distance is not None:
            st.markdown(f"**Face {number}: {md(face.person)}** — distance {face.distance:.2f}")
        elif face.person:
            st.markdown(f"**Face {number}: {md(face.person)}** — {face.probability:.0%}")
        else:
            st.markdown(
                f"**Face {number}: not sure.** Best guess: {md(face.best_guess)} ({md(face.why)})"
                + ("." if face.clean else ", and its eyes were not both found.")
            )
        if not face.clean:
            st.caption(
                ":material/visibility_off: Both eyes were not found in this face "
                "(turned, covered or blurred), so this answer is less reliable."
            )
        if face.distances and rule is not None:
            # The distances decided, not the probabilities: show them, never a confident bar.
            shown = dict(list(face.distances.items())[:TOP_CANDIDATES])
            limit = face.limit if face.limit is not None else rule.max_distance
            behind = (
                f": a small face behind the photo's main ones must be nearer than {rule.max_distance:.3g}"
                if limit < rule.max_distance
                else ""
            )
            st.caption(
                f"Distance from this face to the {'nearest ' if len(face.distances) > TOP_CANDIDATES else ''}"
                f"known people; the model names someone only within {limit:.3g} (the green line{behind}) "
                f"and {rule.min_margin:.3g} nearer than anyone else."
            )
            chart = distance_chart(shown, limit)
            st.altair_chart(chart, width="stretch", height=chart_height(len(shown)))
        else:
            shown = dict(list(face.probabilities.items())[:TOP_CANDIDATES])
            chart = probability_chart(shown, face.person)
            st.altair_chart(chart, width="stretch", height=chart_height(len(shown)))


def show_photo(name: str, data: bytes, run: PageRun) -> list | None:
    """The photo with its faces boxed and each face's answer; its faces (None when unreadable)."""
    st.subheader(md(name), divider="gray")
    result = classify(name, data, run)
    if result is None:
        return None
    shown, original_size, faces = result
    photo_column, faces_column = st.columns([3, 2], gap="medium")
    if not faces:
        with faces_column:
            st.warning(
                f"No face found. This model's engine needs {ENGINES[run.model.info.engine].needs}: "
                "try a closer or sharper photo.",
                icon=":material/face_retouching_off:",
            )
        photo_column.image(shown, width="stretch")
        return faces
    labels = [face_label(number, face) for number, face in enumerate(faces, start=1)]
    photo_column.image(draw_boxes(shown, labels, original_size), width="stretch")
    with faces_column:
        named = [face.person or ("unknown" if face.unknown else "not sure") for face in faces]
        st.markdown(f"{plural(len(faces), 'face')}: " + names(named))
        for number, face in enumerate(faces, start=1):
            show_face(number, face, run.classifier().rule)
    return faces


def sort_quietly(photos: list[tuple[str, bytes]], run: PageRun) -> list[tuple[SortedPhoto, bytes]]:
    """Classify many photos with a progress bar and no details; the readable ones, sorted."""
    classified = classify_many(
        photos, "Sorting photos", lambda name, data: classify(name, data, run, picture=False)
    )
    return [(sorted_photo(name, data, faces), data) for name, data, (_, _, faces) in classified]


def show_who_is_where(sorted_photos: list[tuple[SortedPhoto, bytes]], grouping: float | None) -> None:
    """Which photos each person is in, and the photos to take away sorted into folders; with a
    ``grouping`` distance, the strangers grouped into unknown/group-01 ... (the owner's photos only)."""
    photos, _ = group_strangers([photo for photo, _ in sorted_photos], grouping)
    sorted_photos = [(photo, data) for photo, (_, data) in zip(photos, sorted_photos, strict=True)]
    report = SortReport(photos)
    st.subheader("Who is where", divider="gray")
    counts = report.folder_counts().most_common()
    st.markdown(" · ".join(f"**{md(folder)}**: {plural(n, 'photo')}" for folder, n in counts))
    rows = [
        {"photo": photo.path, "people": ", ".join(photo.people), "folders": ", ".join(photo.folders)}
        for photo in report.photos
    ]
    st.dataframe(rows, hide_index=True, width="stretch")
    left, right = st.columns(2)
    left.download_button(
        "Download the table (CSV)", report_csv(report), "sorted.csv", "text/csv", icon=":material/table:"
    )
    right.download_button(
        "Download the photos in folders (zip)",
        lambda: sorted_zip(sorted_photos),  # made only when asked for
        "sorted-photos.zip",
        "application/zip",
        icon=":material/folder_zip:",
        help="One folder per person (a photo of two people is in both), 'unknown' and 'no face'.",
    )


def show_results(
    photos: list[tuple[str, bytes]], model: resources.ActiveCard, threshold: float, strictness: str | None
) -> None:
    """Every photo with its faces (over CLASSIFY_DETAILS_MAX_PHOTOS, a sorted table instead), and
    for two photos or more, who is where; results of photos no longer shown are forgotten."""
    run = PageRun(model, threshold, strictness)
    # Loaded here, once, so that a model that cannot be loaded is not blamed on each photo.
    run.classifier()
    if len(photos) > CLASSIFY_DETAILS_MAX_PHOTOS:
        st.info(
            f"{len(photos)} photos: sorted by who is in them, without each photo's details (those are "
            f"shown for at most {CLASSIFY_DETAILS_MAX_PHOTOS} photos at a time).",
            icon=":material/sort:",
        )
        sorted_photos = sort_quietly(photos, run)
    else:
        sorted_photos = []
        for name, data in photos:
            faces = show_photo(name, data, run)
            if faces is not None:
                sorted_photos.append((sorted_photo(name, data, faces), data))
    if len(sorted_photos) >= 2:
        # Nothing of a visitor's photos is grouped: strangers are the owner's to name.
        owner = access.is_owner()
        grouping = grouping_distance(run.classifier().bundle) if owner else None
        show_who_is_where(sorted_photos, grouping)
    forget_photos_not_shown(run)
