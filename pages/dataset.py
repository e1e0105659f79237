"""Dataset: the people, their photos, and the face crops training will use."""

import streamlit as st

from celeb import (
    CROPS_PER_PAGE,
    KEPT,
    MAX_UPLOAD_MB,
    PEOPLE_SEARCH_FROM,
    PEOPLE_TABLE_HEIGHT,
    REJECTED,
    AddReport,
    CelebError,
    FlagSettings,
    UrlJob,
    flagged_first,
    model_knows,
    preview_paths,
    preview_zip_people,
    read_url_csv,
    read_url_lines,
)
from celeb_app import (
    background,
    crop_review,
    navigation,
    people_list,
    photo_imports,
    resources,
    url_downloads,
    widgets,
)
from celeb_app.messages import flash, message, show_flash
from celeb_app.text import md, plural
from celeb_app.uploads import UPLOAD_TYPES

navigation.start(__file__)

FILTERS = {"Kept": KEPT, "Rejected": REJECTED, "All": None}


@st.fragment(run_every=1.0)
def search_progress(store, engine: str) -> None:
    """The running search's progress, redrawn every second; the whole page once it has ended."""
    search = background.current_search(store, engine)
    if search is None or not search.running:
        st.rerun()
    fraction = search.done / search.total if search.total else 0.0
    text = f"Finding faces: {search.done}/{search.total} photos" if search.total else "Finding faces…"
    st.progress(fraction, text=f"{text} (you can go on meanwhile, here or on another page)")


def report_ended_search(store, engine: str) -> None:
    """Say how an ended search went, once."""
    search = background.current_search(store, engine)
    if search is None or search.running:
        return
    background.forget_search(store, engine)
    if search.problem:
        st.error(search.problem, icon=":material/error:")
    elif search.report is not None:
        st.success(crop_review.crop_summary(search.report, engine), icon=":material/check_circle:")


st.title("Dataset")
st.caption(
    "Add photos of each person, let the app find the faces, then reject the crops that are not "
    "that person's face. Training uses the kept crops."
)
widgets.cloud_note()
engine = widgets.engine_picker()
store = resources.store()
people = store.people(engine)
show_flash()
report_ended_search(store, engine)

# ---------------------------------------------------------------- people and global actions

left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader("People")
    if people:
        listed = people
        if len(people) > PEOPLE_SEARCH_FROM:  # a squad or a league: find one by name
            wanted = st.text_input("Find a person", placeholder="part of a name", key="people_search")
            listed = people_list.people_named_like(people, wanted)
            st.caption(f"{len(listed)} of {plural(len(people), 'person', 'people')}")
        height = PEOPLE_TABLE_HEIGHT if len(listed) > PEOPLE_SEARCH_FROM else "auto"
        st.dataframe(
            people_list.people_table(listed),
            column_config=people_list.PEOPLE_COLUMNS,
            hide_index=True,
            width="stretch",
            height=height,
        )
    else:
        st.info("No people yet: add the first one.", icon=":material/person_add:")
with right:
    with st.form("add_person", clear_on_submit=True, border=False):
        new_name = st.text_input("Add a person", placeholder="e.g. Serena Williams", max_chars=80)
        if st.form_submit_button("Add person", icon=":material/person_add:"):
            try:
                added = store.add_person(new_name)
            except CelebError as exc:
                st.error(message(exc))
            else:
                flash(f"Added {md(added.name)}. Now add photos of them below.")
                people_list.select_person(added.name)
                people_list.open_tab("Add photos")
                st.rerun()
    waiting = sum(p.unprocessed for p in people)
    search = background.current_search(store, engine)
    if search is not None and search.running:
        search_progress(store, engine)
    elif st.button(
        f"Find faces in {plural(waiting, 'new photo')}",
        type="primary" if waiting else "secondary",
        disabled=not waiting,
        icon=":material/center_focus_strong:",
        help="Looks for faces in every photo not searched yet by this engine, while you go on (here "
        "or on another page). Photos already searched are not redone, so the crops you rejected "
        "stay rejected.",
    ):
        background.start_search(store, engine)
        st.rerun()
    with st.expander("Import many people (a zip or a folder of folders)", icon=":material/folder_zip:"):
        people_round = st.session_state.setdefault("people_round", 0)
        zipped = st.file_uploader(
            "A zip of folders, one per person",
            type=["zip"],
            key=f"people_zip_{people_round}",
            max_upload_size=MAX_UPLOAD_MB,
            help="Each folder's name is the person's (lionel_messi becomes Lionel Messi); people are added "
            "as needed, and a person already here gets the photos of their folder.",
        )
        folders = st.file_uploader(
            "…or a folder of folders, one per person",
            type=UPLOAD_TYPES,
            accept_multiple_files="directory",
            key=f"people_folder_{people_round}",
            max_upload_size=MAX_UPLOAD_MB,
            help="Choose the folder that holds one folder per person (with Browse: a folder dropped on "
            "the box may come without its sub-folders' names in some browsers; a zip always keeps them).",
        )
        preview: dict[str, int] = {}
        try:
            if zipped is not None:
                preview = preview_zip_people(zipped.getvalue())
        except CelebError as exc:
            st.error(message(exc))
            zipped = None
        for name, count in preview_paths([f.name for f in folders or []]).items():
            preview[name] = preview.get(name, 0) + count
        if preview:
            st.dataframe(
                photo_imports.people_preview_table(preview, people), hide_index=True, width="stretch"
            )
        elif zipped is not None or folders:
            st.warning(
                "No photos in folders named after people: put each person's photos in a folder named "
                "after them (a zip of those folders, or the folder that holds them).",
                icon=":material/warning:",
            )
        total = sum(preview.values())
        if st.button(
            f"Import {plural(total, 'photo')} of {plural(len(preview), 'person', 'people')}"
            if preview
            else "Import",
            disabled=not preview,
            key="import_people",
            type="primary",
        ):
            bar = st.progress(0.0, text="Adding photos…")

            def progress(done: int, count: int) -> None:
                bar.progress(done / max(count, 1), text=f"Adding photos: {done}/{count}")

            try:
                reports = photo_imports.merge_people_reports(
                    store.import_zip_folders(zipped.getvalue(), progress) if zipped is not None else {},
                    store.import_named_files([(f.name, f.getvalue()) for f in folders or []], progress),
                )
            except CelebError as exc:
                st.error(message(exc))
            else:
                st.session_state["people_report"] = reports
                st.session_state["people_round"] = people_round + 1  # empties the pickers
                first = next((name for name in reports if name), None)
                if first:
                    people_list.select_person(first)
                st.rerun()
        photo_imports.show_people_report()
    with st.expander("Import image addresses for many people (CSV)", icon=":material/link:"):
        csv_round = st.session_state.setdefault("csv_round", 0)
        listing = st.file_uploader(
            "A CSV file with a person,url row per photo",
            type=["csv", "txt"],
            key=f"url_csv_{csv_round}",
            max_upload_size=MAX_UPLOAD_MB,
            help="One row per photo: the person's name, then the photo's address. People are added as "
            "needed; only public http(s) addresses are downloaded; addresses imported before are skipped.",
        )
        if st.button("Download the photos", disabled=listing is None, key="download_csv"):
            try:
                jobs = read_url_csv(listing.getvalue())
            except CelebError as exc:
                st.error(message(exc))
            else:
                st.session_state["url_report"] = ("", url_downloads.download_urls(store, jobs))
                st.session_state["csv_round"] = csv_round + 1
                st.rerun()
        url_downloads.show_url_report("")
    st.download_button(
        "Download dataset (zip)",
        data=store.export_zip,  # built only when the download is clicked (in another thread)
        file_name="celeb-dataset.zip",
        mime="application/zip",
        on_click="ignore",
        disabled=not people,
        icon=":material/download:",
        help="Every person's photos and kept crops, with the manifest (built when you click).",
    )

if not people:
    st.stop()

# ---------------------------------------------------------------- one person

st.divider()
people_list.apply_pending_selection()
names = [p.name for p in people]
if st.session_state.get("person") not in names:
    st.session_state["person"] = names[0]
person = st.selectbox("Person", names, key="person")
shown = md(person)
summary = next(p for p in people if p.name == person)
st.caption(
    f"{plural(summary.photos, 'photo')} · {summary.kept} kept crops · {summary.rejected} rejected"
    f" · {summary.unprocessed} not searched yet"
)

# Tabs that keep their state (a rerun), so that a new person opens on Add photos (people_list.open_tab).
crops_tab, add_tab, manage_tab = st.tabs(people_list.PERSON_TABS, key="person_tabs", on_change="rerun")

with add_tab:
    round_ = st.session_state.setdefault("upload_round", 0)
    files = st.file_uploader(
        f"Photos of {shown}, or zips of photos",
        type=[*UPLOAD_TYPES, "zip"],
        accept_multiple_files=True,
        key=f"add_files_{round_}",
        max_upload_size=MAX_UPLOAD_MB,
    )
    folder = st.file_uploader(
        "…or a whole folder of photos",
        type=UPLOAD_TYPES,
        accept_multiple_files="directory",
        key=f"add_folder_{round_}",
        max_upload_size=MAX_UPLOAD_MB,
    )
    chosen = list(files or []) + list(folder or [])
    what = plural(len(chosen), "file") if chosen else "photos"
    if st.button(f"Add {what} to {shown}", disabled=not chosen, type="primary"):
        bar = st.progress(0.0, text="Adding photos…")
        report = AddReport()
        for done, upload in enumerate(chosen, start=1):
            report.merge(photo_imports.add_upload(store, person, upload.name, upload.getvalue()))
            bar.progress(done / len(chosen), text=f"Adding photos: {done}/{len(chosen)}")
        st.session_state["add_report"] = (person, report)
        st.session_state["upload_round"] = round_ + 1  # empties the pickers
        st.rerun()
    photo_imports.show_add_report(person)

    st.markdown("**…or addresses of photos on the web**")
    pasted = st.text_area(
        f"Addresses of photos of {shown}, one per line",
        key=f"add_urls_{round_}",
        height=110,
        placeholder="https://example.org/photo.jpg",
        help="Each address must lead straight to a photo (JPEG, PNG …), not to a page. Only public http(s) "
        "addresses are downloaded; addresses downloaded before are skipped.",
    )
    urls = read_url_lines(pasted or "")
    what = plural(len(urls), "address", "addresses") if urls else "photos"
    if st.button(f"Download {what} for {shown}", disabled=not urls, key="download_urls"):
        report = url_downloads.download_urls(store, [UrlJob(person, url) for url in urls])
        st.session_state["url_report"] = (person, report)
        st.session_state["upload_round"] = round_ + 1  # empties the box
        st.rerun()
    url_downloads.show_url_report(person)

with manage_tab:
    with st.form("rename", border=False):
        renamed = st.text_input("New name", value=person, max_chars=80)
        if st.form_submit_button("Rename", icon=":material/edit:"):
            try:
                store.rename_person(person, renamed)
            except CelebError as exc:
                st.error(message(exc))
            else:
                flash(
                    f"Renamed {shown} to {md(renamed.strip())}. Retrain so that the model uses the new name."
                )
                people_list.select_person(renamed.strip())
                st.rerun()
    if st.session_state.get("confirm_delete") != person:
        st.button(
            f"Delete {shown}…",
            icon=":material/delete:",
            on_click=lambda: st.session_state.update(confirm_delete=person),
        )
    else:
        st.warning(
            f"Delete **{shown}** with {plural(summary.photos, 'photo')} and "
            f"{plural(summary.kept + summary.rejected, 'crop')}? This cannot be undone.",
            icon=":material/warning:",
        )
        yes, no = st.columns(2, width=420)
        if yes.button(f"Yes, delete {shown}", type="primary"):
            store.delete_person(person)
            st.session_state.pop("confirm_delete", None)
            flash(f"Deleted {shown}.")
            st.rerun()
        no.button("Cancel", on_click=lambda: st.session_state.pop("confirm_delete", None))

with crops_tab:
    crops = store.crops(person, engine=engine)
    if not crops:
        st.info(crop_review.no_crops_hint(summary, engine), icon=":material/info:")
        st.stop()
    bar_left, bar_mid, bar_right = st.columns([2, 2, 1], vertical_alignment="bottom")
    shown_filter = bar_left.segmented_control(
        "Show", list(FILTERS), default="Kept", required=True, key="crop_filter"
    )
    first = bar_mid.toggle("Flagged first", value=True, key="flagged_first")
    with bar_right.popover("Flag settings", icon=":material/tune:"):
        start = FlagSettings()  # the defaults (celeb.config)
        settings = FlagSettings(
            tiny_pixels=st.slider(
                "Tiny below (px wide in the photo)", 16, 160, start.tiny_pixels, 8, key="flag_tiny"
            ),
            disagree_probability=st.slider(
                "Model disagrees from (probability)",
                0.3,
                0.95,
                start.disagree_probability,
                0.05,
                format="percent",
                key="flag_model",
            ),
            duplicate_similarity=st.slider(
                "Near-duplicate from (similarity)",
                0.90,
                0.995,
                start.duplicate_similarity,
                0.005,
                format="%.3f",
                key="flag_dup",
            ),
        )

    # A damaged model only costs its check of the crops: curating is how a better one gets made.
    model, model_problem = resources.active_model_or_problem()
    flags = crop_review.person_flags(store, person, crops, model, settings)
    status = FILTERS[shown_filter or "Kept"]
    crop_review.show_flag_summary(
        crops, flags, model is not None and model_knows(model.bundle, person), model, model_problem, status
    )

    visible = [crop for crop in crops if status is None or crop.record.status == status]
    if first:
        visible = flagged_first(visible, flags)
    if not visible:
        st.info(f"No {shown_filter.lower()} crops of {shown}.")
        st.stop()
    pages = -(-len(visible) // CROPS_PER_PAGE)
    number = 1
    if pages > 1:
        number = st.pagination(pages, key=f"crop_page_{summary.slug}_{shown_filter}_{pages}")
    first_shown = (number - 1) * CROPS_PER_PAGE
    page_crops = visible[first_shown : first_shown + CROPS_PER_PAGE]
    crop_review.selection_bar(page_crops)
    crop_review.crop_grid(page_crops, flags)
    st.caption(f"Crops {first_shown + 1}–{first_shown + len(page_crops)} of {len(visible)}")
