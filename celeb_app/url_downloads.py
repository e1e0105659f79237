"""Photos downloaded from addresses on the Dataset page (a person's pasted addresses, or a CSV of
person,url rows for many people), with a progress bar, and what each download did."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from celeb import DatasetStore, FetchSettings, UrlJob, UrlReport, import_urls
from celeb_app.photo_imports import skipped_columns
from celeb_app.text import names, plural

REPORT_COLUMNS = skipped_columns("address")


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
            st.dataframe(frame, hide_index=True, width="stretch", column_config=REPORT_COLUMNS)
    if not (report.added or report.skipped or report.failed):
        st.info("There were no addresses to download.")
