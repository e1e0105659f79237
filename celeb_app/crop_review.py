"""Pieces of the Dataset page: messages, the import report, flags, the crop grid."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from celeb import (
    ENGINE_LABELS,
    ENGINES,
    FLAG_NAMES,
    KEPT,
    PLAIN,
    REJECTED,
    AddReport,
    Box,
    CelebError,
    Crop,
    CropReport,
    DatasetStore,
    FetchSettings,
    Flag,
    FlagSettings,
    Label,
    PersonSummary,
    UrlJob,
    UrlReport,
    draw_boxes,
    flag_crops,
    import_urls,
    read_image,
    review_image,
    same_person,
)
from celeb_app import resources
from celeb_app.messages import message, safe_callback
from celeb_app.text import md, names, plural

#: The skipped files' tables: the reason gets the room ("why" was cut to "wh…" beside long file names).
SKIPPED_COLUMNS = {
    "person": st.column_config.TextColumn("person", width="small"),
    "file": st.column_config.TextColumn("file", width="medium"),
    "why": st.column_config.TextColumn("why", width="large"),
}
#: The person's tabs (st.tabs key "person_tabs"), the first is open by default.
PERSON_TABS = ["Crops", "Add photos", "Rename or delete"]
#: Width of a face in the crop grid, in CSS pixels: fixed, so that a narrow screen (one column)
#: never blows a face up to the screen's width.
GRID_IMAGE_WIDTH = 128


# ---------------------------------------------------------------- messages across a rerun


def select_person(name: str) -> None:
    """Select ``name`` in the person box on the next run (the box may exist already)."""
    st.session_state["pending_person"] = name


def open_tab(label: str) -> None:
    """Open the person's tab ``label`` on the next run."""
    st.session_state["pending_tab"] = label


def apply_pending_selection() -> None:
    if "pending_person" in st.session_state:
        st.session_state["person"] = st.session_state.pop("pending_person")
    if "pending_tab" in st.session_state:
        st.session_state["person_tabs"] = st.session_state.pop("pending_tab")


# ---------------------------------------------------------------- tables and summaries


def people_table(people: Sequence[PersonSummary]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "person": p.name,
                "photos": p.photos,
                "kept crops": p.kept,
                "rejected crops": p.rejected,
                "not searched yet": p.unprocessed,
            }
            for p in people
        ]
    )


def people_named_like(people: Sequence[PersonSummary], text: str) -> list[PersonSummary]:
    """The people whose name holds ``text`` (case, accents and underscores aside); all for "".

    >>> from celeb import PersonSummary
    >>> team = [PersonSummary(n, n.lower(), 1, 0, 1, 0) for n in ("Zoë Bel", "Ann Lee", "Bo Zoe")]
    >>> [p.name for p in people_named_like(team, "zoe")]
    ['Zoë Bel', 'Bo Zoe']
    """
    wanted = _folded(text)
    return [person for person in people if wanted in _folded(person.name)]


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("_", " "))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().strip()


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


# ---------------------------------------------------------------- adding photos


def add_upload(store: DatasetStore, person: str, name: str, data: bytes) -> AddReport:
    """Add one uploaded file (a photo or a zip); every problem lands in the report."""
    try:
        if name.lower().endswith(".zip"):
            return store.add_zip(person, data)
        return store.add_photo(person, data, name)
    except CelebError as exc:
        return AddReport(skipped=[(name, str(exc))])


def show_add_report(person: str) -> None:
    stored = st.session_state.get("add_report")
    if not stored or stored[0] != person:
        return
    report: AddReport = stored[1]
    added, skipped = len(report.added), len(report.skipped)
    if added:
        st.success(
            f"Added {plural(added, 'photo')} to {md(person)}. Press **Find faces** to crop them.",
            icon=":material/check_circle:",
        )
    if skipped:
        st.warning(f"Skipped {plural(skipped, 'file')}:", icon=":material/warning:")
        st.dataframe(
            pd.DataFrame(report.skipped, columns=["file", "why"]),
            hide_index=True,
            width="stretch",
            column_config=SKIPPED_COLUMNS,
        )
    if not added and not skipped:
        st.info("The files held no photos.")


def people_preview_table(preview: dict[str, int], people: Sequence[PersonSummary]) -> pd.DataFrame:
    """Who gets how many photos from a zip (or folder) of people folders, new or already there."""
    rows = []
    for name, count in preview.items():
        known = next((p.name for p in people if same_person(p.name, name)), None)
        rows.append({"person": known or name, "photos": count, "": "adds to them" if known else "new person"})
    return pd.DataFrame(rows, columns=["person", "photos", ""])


def merge_people_reports(*reports: dict[str, AddReport]) -> dict[str, AddReport]:
    merged: dict[str, AddReport] = {}
    for report in reports:
        for name, part in report.items():
            merged.setdefault(name, AddReport()).merge(part)
    return merged


def show_people_report() -> None:
    """What the last import of people folders did (kept in the session across the rerun)."""
    reports: dict[str, AddReport] | None = st.session_state.get("people_report")
    if reports is None:
        return
    people = {name: report for name, report in reports.items() if name}
    added = sum(len(report.added) for report in people.values())
    if added:
        st.success(
            f"Added {plural(added, 'photo')} to {names(sorted(people))}. Press **Find faces** to crop them.",
            icon=":material/check_circle:",
        )
    if people:
        frame = pd.DataFrame(
            [
                {"person": name, "added": len(report.added), "skipped": len(report.skipped)}
                for name, report in people.items()
            ]
        )
        st.dataframe(frame, hide_index=True, width="stretch")
    skipped = [
        (name or "(no person)", file, why) for name, report in reports.items() for file, why in report.skipped
    ]
    if skipped:
        st.warning(f"Skipped {plural(len(skipped), 'file')}:", icon=":material/warning:")
        st.dataframe(
            pd.DataFrame(skipped, columns=["person", "file", "why"]),
            hide_index=True,
            width="stretch",
            column_config=SKIPPED_COLUMNS,
        )
    if not added and not skipped:
        st.info("There were no photos in folders named after people.")


def download_urls(store: DatasetStore, jobs: list[UrlJob]) -> UrlReport:
    """Download image addresses into the dataset with a progress bar (owner only: the store says so)."""
    bar = st.progress(0.0, text=f"Downloading {plural(len(jobs), 'photo')}…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Downloading photos: {done}/{total}")

    report = import_urls(store, jobs, FetchSettings.from_env(), progress=progress)
    bar.empty()
    return report


def show_url_report(where: str) -> None:
    """The last download of addresses made at ``where`` (a person, or "" for the CSV import)."""
    stored = st.session_state.get("url_report")
    if stored and stored[0] == where:
        _url_report(stored[1])


def _url_report(report: UrlReport) -> None:
    """What a download of addresses did: added, skipped (why), failed (why), addresses as text."""
    if report.added:
        people = sorted({person for person, _ in report.added})
        st.success(
            f"Downloaded {plural(len(report.added), 'photo')} for {names(people)}. "
            "Press **Find faces** to crop them.",
            icon=":material/check_circle:",
        )
    for rows, what, icon in ((report.skipped, "Skipped", "info"), (report.failed, "Failed", "warning")):
        if rows:
            note = f"{what}: {plural(len(rows), 'address', 'addresses')}."
            if icon == "info":
                st.info(note, icon=":material/info:")
            else:
                st.warning(note, icon=":material/warning:")
            frame = pd.DataFrame(rows, columns=["person", "address", "why"])
            st.dataframe(frame, hide_index=True, width="stretch")
    if not (report.added or report.skipped or report.failed):
        st.info("There were no addresses to download.")


def export_callable(store: DatasetStore) -> Callable[[], bytes]:
    """Builds the dataset zip only when the download is clicked (in another thread)."""
    return store.export_zip


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
