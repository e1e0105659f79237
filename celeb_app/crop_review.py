"""Reviewing a person's face crops on the Dataset page: what Find faces found, the flags that point
at crops worth a look, and the grid of crops to reject or restore."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import streamlit as st

from celeb import (
    ENGINE_LABELS,
    ENGINES,
    FLAG_NAMES,
    KEPT,
    PLAIN,
    REJECTED,
    Box,
    CelebError,
    Crop,
    CropReport,
    DatasetStore,
    Flag,
    FlagSettings,
    Label,
    PersonSummary,
    draw_boxes,
    flag_crops,
    read_image,
    review_image,
)
from celeb_app import resources
from celeb_app.messages import message, safe_callback
from celeb_app.text import md, plural

#: Width of a face in the crop grid, in CSS pixels: fixed, so that a narrow screen (one column)
#: never blows a face up to the screen's width.
GRID_IMAGE_WIDTH = 128


# ---------------------------------------------------------------- what Find faces found


def crop_summary(report: CropReport, engine: str) -> str:
    if not report.photos:
        return "Every photo has been searched already."
    set_aside = report.faces - report.kept
    text = (
        f"Searched {plural(report.photos, 'photo')}: found "
        f"{plural(report.faces, 'face')}{ENGINES[engine].faces_kept_as}, kept {report.kept}"
    )
    if set_aside:
        text += f" ({set_aside} smaller faces in group photos set aside as rejected)"
    return text + "."


def no_crops_hint(summary: PersonSummary, engine: str) -> str:
    if summary.unprocessed:
        return (
            f"{plural(summary.unprocessed, 'photo')} of {md(summary.name)} "
            "not searched yet: press **Find faces** above."
        )
    if summary.photos:
        return (
            f"No face was found in the photos of {md(summary.name)}. The "
            f"{ENGINE_LABELS[engine]} engine needs {ENGINES[engine].needs}: add clearer photos."
        )
    return f"No photos of {md(summary.name)} yet: add some in the **Add photos** tab."


# ---------------------------------------------------------------- flags


@st.cache_data(max_entries=32, show_spinner="Checking the crops…")
def _flags(
    root: str, person: str, engine: str, state: tuple, model_key: tuple | None, settings: tuple
) -> dict[str, list[Flag]]:
    # ``state`` (crop ids and statuses) and ``model_key`` are the cache key.
    del state
    del root  # the store's folder: part of the cache key
    crops = resources.location().open_dataset(read_only=True).crops(person, engine=engine)
    bundle = resources.load_model(model_key) if model_key else None
    return flag_crops(crops, bundle, FlagSettings(*settings))


def person_flags(
    store: DatasetStore,
    person: str,
    crops: Sequence[Crop],
    model: resources.ActiveModel | None,
    settings: FlagSettings,
) -> dict[str, list[Flag]]:
    state = tuple((c.record.id, c.record.status) for c in crops)
    key = model.key if model else None
    values = (settings.tiny_pixels, settings.disagree_probability, settings.duplicate_similarity)
    engine = crops[0].record.engine if crops else ""
    return _flags(str(store.root), person, engine, state, key, values)


def show_flag_summary(
    crops: Sequence[Crop],
    flags: dict[str, list[Flag]],
    model_checks: bool,
    model: resources.ActiveModel | None,
    model_problem: str = "",
    status: str | None = KEPT,
) -> None:
    """How many of the crops the filter shows (``status``: kept, rejected, None for all) are
    flagged, and whether the active model could check them.

    ``model_problem`` (markdown) says why the active model could not be loaded.
    """
    shown = {c.record.id for c in crops if status is None or c.record.status == status}
    counts: dict[str, int] = {}
    for crop_id, found in flags.items():
        if crop_id in shown:
            for flag in found:
                counts[flag.kind] = counts.get(flag.kind, 0) + 1
    flagged = sum(1 for crop_id in flags if crop_id in shown)
    which = {KEPT: "kept ", REJECTED: "rejected ", None: ""}[status]
    if flagged:
        parts = ", ".join(f"{n} {FLAG_NAMES[kind]}" for kind, n in counts.items())
        worth = ": worth a look" if status == KEPT else ""
        st.markdown(f":orange[:material/flag:] **{flagged} {which}crops flagged** ({parts}){worth}.")
    else:
        st.markdown(f":green[:material/check:] No {which}crop is flagged.")
    if model_problem:
        st.warning(
            f"The active model cannot be used ({model_problem}), so it does not check these crops. "
            "Train a new model, or make an earlier one active, on the **Train** page.",
            icon=":material/warning:",
        )
    elif model is None:
        st.caption("No active model yet: train one to also flag crops the model thinks are someone else.")
    elif not model_checks:
        st.caption(
            "The active model does not know this person yet, so it cannot check these crops; "
            "retrain after curating."
        )


# ---------------------------------------------------------------- the grid


@safe_callback
def _set_status(crop_ids: list[str], status: str) -> None:
    resources.store().set_status(crop_ids, status)
    for crop_id in crop_ids:
        st.session_state[f"select_{crop_id}"] = False


def _select(crop_ids: list[str], value: bool) -> None:
    for crop_id in crop_ids:
        st.session_state[f"select_{crop_id}"] = value


def selection_bar(page_crops: Sequence[Crop]) -> None:
    ids = [crop.record.id for crop in page_crops]
    selected = [crop_id for crop_id in ids if st.session_state.get(f"select_{crop_id}")]
    with st.container(horizontal=True, vertical_alignment="center"):
        st.button(
            f"Reject selected ({len(selected)})",
            disabled=not selected,
            on_click=_set_status,
            args=(selected, REJECTED),
            key="reject_selected",
            icon=":material/block:",
        )
        st.button(
            f"Restore selected ({len(selected)})",
            disabled=not selected,
            on_click=_set_status,
            args=(selected, KEPT),
            key="restore_selected",
            icon=":material/undo:",
        )
        st.button("Select all on this page", on_click=_select, args=(ids, True), key="select_page")
        st.button(
            "Clear selection",
            on_click=_select,
            args=(ids, False),
            key="clear_selection",
            disabled=not selected,
        )


def crop_grid(page_crops: Sequence[Crop], flags: dict[str, list[Flag]], min_width: int = 150) -> None:
    """A responsive grid of crop cards: as many columns as the width allows."""
    grid = st.grid("auto", min_column_width=min_width, border=True)
    for crop in page_crops:
        with grid.cell():
            _crop_card(crop, flags.get(crop.record.id, []))


def _crop_card(crop: Crop, found: list[Flag]) -> None:
    record = crop.record
    rejected = record.status == REJECTED
    try:
        st.image(_review_image(crop), width=GRID_IMAGE_WIDTH)
    except CelebError as exc:
        st.caption(f":red[:material/broken_image:] {message(exc)}")
    if rejected:
        st.caption(f":red[Rejected]: {md(record.reason or 'by you')}")
    for flag in found:
        st.caption(f":orange[:material/flag: {md(flag.message)}]")
    st.checkbox("Select", key=f"select_{record.id}")
    with st.container(horizontal=True, gap="small", vertical_alignment="center"):
        st.button(
            "Restore" if rejected else "Reject",
            key=f"reject_{record.id}",
            on_click=_set_status,
            args=([record.id], KEPT if rejected else REJECTED),
            help="Use this crop for training again" if rejected else "Leave this crop out of training",
        )
        photo = st.popover(
            "",
            key=f"photo_{record.id}",
            on_change="rerun",
            icon=":material/image:",
            help="The photo this face was cut from",
        )
        with photo:
            if photo.open:
                _source_photo(crop)


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return -1.0


def _review_image(crop: Crop) -> np.ndarray:
    """The crop's whole face for review (see celeb.draw.review_image), cached per crop."""
    return _cached_review(
        str(crop.photo_path),
        _mtime(crop.photo_path),
        tuple(crop.record.box),
        str(crop.path),
        _mtime(crop.path),
    )


@st.cache_data(max_entries=256, show_spinner=False)
def _cached_review(photo: str, photo_mtime: float, box: tuple, path: str, crop_mtime: float) -> np.ndarray:
    del photo_mtime, crop_mtime  # in the cache key: a replaced file is read again
    return review_image(Path(photo), box, Path(path))


def _source_photo(crop: Crop) -> None:
    try:
        image = read_image(crop.photo_path, max_side=900)
    except CelebError as exc:
        st.error(message(exc))
        return
    box = Box(*crop.record.box)
    st.image(draw_boxes(image.rgb, [Label(box, "", PLAIN)], image.original_size), width=420)
    st.caption(f"{md(crop.photo_filename)} · face {box.w}×{box.h} px")
