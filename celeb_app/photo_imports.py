"""Adding photos on the Dataset page: a person's uploads (photos, zips), many people's folders (a
zip or a folder of folders), and what each import did, kept across the rerun."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from celeb import AddReport, CelebError, DatasetStore, PersonSummary, same_person
from celeb_app.text import md, names, plural


def skipped_columns(what: str) -> dict:
    """A table of what an import skipped (person, ``what`` was skipped, why): the reason gets the
    room ("why" was cut to "wh…" beside long file names and addresses)."""
    return {
        "person": st.column_config.TextColumn("person", width="small"),
        what: st.column_config.TextColumn(what, width="medium"),
        "why": st.column_config.TextColumn("why", width="large"),
    }


SKIPPED_COLUMNS = skipped_columns("file")


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
