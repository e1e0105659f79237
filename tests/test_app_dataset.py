"""The Dataset page as a user curates: a new person opens on Add photos, a zip of people
folders is previewed then imported, crops are reviewed by their whole face at a fixed
width, and the flag summary speaks of what the filter shows.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from app_helpers import (
    APP,
    DATASET,
    TRAIN,
    after_the_search,
    app,
    assert_clean,
    needs_dlib,
    plain,
    store_with_photos,
)
from PIL import Image
from streamlit.testing.v1 import AppTest

from celeb.dataset import DatasetStore
from celeb.draw import REVIEW_SIZE
from celeb.manifest import KEPT, REJECTED

pytestmark = pytest.mark.usefixtures("local_browser")  # the owner, unless a test makes it a visitor


def test_adding_a_person_opens_their_add_photos_tab(env, make_photo):
    dataset, _ = env
    store_with_photos(dataset, make_photo, {"Ann": ("red", 1)}, process=False)
    at = app(DATASET)
    at.text_input[0].input("Serena Williams")
    at.button[0].click().run()  # the form's "Add person"
    assert_clean(at)
    assert at.selectbox(key="person").value == "Serena Williams"
    assert at.session_state["person_tabs"] == "Add photos"


def test_a_zip_of_people_folders_is_previewed_then_imported(env, make_photo):
    dataset, _ = env
    DatasetStore(dataset).add_person("Ann")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for seed in range(2):
            archive.writestr(f"people/ann/{seed}.jpg", make_photo("red", seed))
        for seed in range(3):
            archive.writestr(f"people/bob_lee/{seed}.jpg", make_photo("blue", 10 + seed))
        archive.writestr("people/readme.txt", b"hello")
    at = app(DATASET)
    assert at.button(key="import_people").disabled
    at.file_uploader(key="people_zip_0").set_value(("people.zip", buffer.getvalue(), "application/zip")).run()
    assert_clean(at)
    preview = next(d.value for d in at.dataframe if "photos" in d.value.columns and "" in d.value.columns)
    assert preview.to_dict("records") == [
        {"person": "Ann", "photos": 2, "": "adds to them"},
        {"person": "Bob Lee", "photos": 3, "": "new person"},
    ]
    assert DatasetStore(dataset).people()[0].photos == 0  # nothing imported yet
    button = at.button(key="import_people")
    assert button.label == "Import 5 photos of 2 people"
    button.click().run()
    assert_clean(at)
    assert {p.name: p.photos for p in DatasetStore(dataset).people()} == {"Ann": 2, "Bob Lee": 3}
    assert any("Added 5 photos to Ann, Bob Lee" in plain(s.value) for s in at.success), [
        s.value for s in at.success
    ]
    skipped = at.dataframe[-1].value if "why" in at.dataframe[-1].value.columns else None
    assert skipped is not None and list(skipped["file"]) == ["people/readme.txt"]
    # Issue 23: the reason was cut to "wh…" beside long file names; it gets the room.
    assert column_widths(at.dataframe[-1])["why"] == "large"


def column_widths(table) -> dict[str, str | int | None]:
    return {name: column.get("width") for name, column in json.loads(table.proto.columns).items()}


def test_a_folder_upload_of_people_folders_is_imported(env, make_photo):
    dataset, _ = env
    at = app(DATASET)
    files = [(f"celebs/ann_lee/{seed}.jpg", make_photo("red", seed), "image/jpeg") for seed in range(2)]
    at.file_uploader(key="people_folder_0").set_value(files).run()
    assert at.button(key="import_people").label == "Import 2 photos of 1 person"
    at.button(key="import_people").click().run()
    assert_clean(at)
    assert {p.name: p.photos for p in DatasetStore(dataset).people()} == {"Ann Lee": 2}
    assert at.selectbox(key="person").value == "Ann Lee"


def test_a_zip_without_people_folders_says_what_is_needed(env, make_photo):
    at = app(DATASET)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.jpg", make_photo("red", 0))
    at.file_uploader(key="people_zip_0").set_value(("flat.zip", buffer.getvalue(), "application/zip")).run()
    assert_clean(at)
    assert any("No photos in folders named after people" in w.value for w in at.warning)
    assert at.button(key="import_people").disabled


def test_crops_are_reviewed_by_their_whole_face_at_a_fixed_width(env, make_photo, shown_images):
    dataset, _ = env
    store = store_with_photos(dataset, make_photo, {"Ann": ("red", 2)})
    at = app(DATASET)
    assert_clean(at)
    grid = [(source, width) for source, width in shown_images if isinstance(source, np.ndarray)]
    assert len(grid) == len(store.crops("Ann")) == 2, shown_images
    for source, width in grid:
        # The whole face from the photo (the stored crop is its inner part, aligned) ...
        assert source.shape == (REVIEW_SIZE, REVIEW_SIZE, 3)
        # ... at a fixed width no larger than the image: a 390 px screen never stretches it.
        assert isinstance(width, int) and width <= REVIEW_SIZE


def test_crops_whose_photo_is_gone_show_the_crop_itself(env, make_photo, shown_images):
    dataset, _ = env
    store = store_with_photos(dataset, make_photo, {"Ann": ("red", 1)})
    crop = store.crops("Ann")[0]
    crop.photo_path.unlink()
    at = app(DATASET)
    assert_clean(at)
    grid = [source for source, _ in shown_images if isinstance(source, np.ndarray)]
    assert [image.shape[:2] for image in grid] == [Image.open(crop.path).size[::-1]]


def flag_summary(at) -> str:
    """The flag summary's line: "N ... crops flagged (...)" or "No ... crop is flagged."."""
    return next(m.value for m in at.markdown if "flagged" in m.value and m.value.startswith(":"))


def test_the_flag_summary_speaks_of_what_the_filter_shows(env, make_photo):
    dataset, _ = env
    store = store_with_photos(dataset, make_photo, {"Ann": ("red", 3)})
    store.set_status([store.crops("Ann")[0].record.id], REJECTED)
    at = app(DATASET)
    assert "kept crop" in flag_summary(at)  # "2 kept crops flagged" or "No kept crop is flagged"
    at.segmented_control(key="crop_filter").set_value("Rejected").run()
    assert_clean(at)
    assert "kept" not in flag_summary(at) and "rejected crop" in flag_summary(at)
    at.segmented_control(key="crop_filter").set_value("All").run()
    assert_clean(at)
    assert "kept" not in flag_summary(at) and "rejected" not in flag_summary(at)


# ---------------------------------------------------------------- people, photos and crops


def test_reject_and_restore_a_crop(env, make_photo):
    dataset, _ = env
    store = store_with_photos(dataset, make_photo, {"Ann": ("red", 2)})
    crop_id = store.crops("Ann")[0].record.id

    def status() -> str:
        manifest = json.loads((dataset / "manifest.json").read_text())
        return next(iter(manifest["people"].values()))["crops"][crop_id]["status"]

    at = app(DATASET)
    assert_clean(at)
    assert len(at.image) >= 2  # the crop grid
    at.button(key=f"reject_{crop_id}").click().run()
    assert_clean(at)
    assert status() == REJECTED
    at.segmented_control(key="crop_filter").set_value("Rejected").run()
    assert at.button(key=f"reject_{crop_id}").label == "Restore"
    at.button(key=f"reject_{crop_id}").click().run()
    assert_clean(at)
    assert status() == KEPT


def test_reject_selected_crops(env, make_photo):
    dataset, _ = env
    store = store_with_photos(dataset, make_photo, {"Ann": ("red", 3)})
    ids = [c.record.id for c in store.crops("Ann")]
    at = app(DATASET)
    at.checkbox(key=f"select_{ids[0]}").check()
    at.checkbox(key=f"select_{ids[1]}").check().run()
    assert at.button(key="reject_selected").label == "Reject selected (2)"
    at.button(key="reject_selected").click().run()
    assert_clean(at)
    assert {c.record.id: c.record.status for c in store.crops("Ann")} == {
        ids[0]: REJECTED,
        ids[1]: REJECTED,
        ids[2]: KEPT,
    }


def test_add_a_person_validates_the_name(env):
    dataset, _ = env
    at = app(DATASET)
    at.text_input[0].input("../etc")
    at.button[0].click().run()  # the form's "Add person"
    assert_clean(at)
    assert any("cannot contain '/'" in e.value for e in at.error)
    at.text_input[0].input("Serena Williams")
    at.button[0].click().run()
    assert_clean(at)
    assert [p.name for p in DatasetStore(dataset).people()] == ["Serena Williams"]
    assert at.selectbox(key="person").value == "Serena Williams"


def test_upload_photos_then_find_faces(env, make_photo):
    dataset, _ = env
    DatasetStore(dataset).add_person("Ann")
    at = app(DATASET)
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("a/ann-2.jpg", make_photo("red", 2))
        archive.writestr("notes.txt", "hello")
    at.file_uploader(key="add_files_0").set_value(
        [
            ("ann-1.jpg", make_photo("red", 1), "image/jpeg"),
            ("again.jpg", make_photo("red", 1), "image/jpeg"),  # the same bytes: a duplicate
            ("photos.zip", zipped.getvalue(), "application/zip"),
        ]
    ).run()
    add = next(b for b in at.button if b.label.startswith("Add 3 files"))
    add.click().run()
    assert_clean(at)
    assert any("Added 2 photos" in s.value for s in at.success)
    skipped = at.dataframe[-1].value
    assert set(skipped["file"]) == {"again.jpg", "notes.txt"}
    find = next(b for b in at.button if b.label.startswith("Find faces in 2 new photos"))
    after_the_search(find.click().run())
    assert_clean(at)
    summary = DatasetStore(dataset).people()[0]
    assert summary.unprocessed == 0 and summary.kept == 2
    assert any("Searched 2 photos" in s.value for s in at.success)


def test_delete_a_person_asks_first(env, make_photo):
    dataset, _ = env
    store_with_photos(dataset, make_photo, {"Ann": ("red", 1), "Bob": ("blue", 1)}, process=False)
    at = app(DATASET)
    delete = next(b for b in at.button if b.label == "Delete Ann…")
    delete.click().run()
    assert any("cannot be undone" in w.value for w in at.warning)
    assert len(DatasetStore(dataset).people()) == 2
    next(b for b in at.button if b.label == "Yes, delete Ann").click().run()
    assert_clean(at)
    assert [p.name for p in DatasetStore(dataset).people()] == ["Bob"]


# ---------------------------------------------------------------- photos from image addresses


def test_dataset_downloads_pasted_addresses_and_reports_each(env, site, make_photo, monkeypatch):
    from conftest import jpeg_route

    dataset, _ = env
    served, base = site
    served.routes["/ann.jpg"] = jpeg_route(make_photo("red", 1))
    served.routes["/page"] = (200, {"Content-Type": "text/html"}, b"<html>a page</html>", 0.0)
    monkeypatch.setenv("CELEB_ALLOWED_HOSTS", base.removeprefix("http://"))  # host:port
    DatasetStore(dataset).add_person("Ann")
    at = app(DATASET)
    box = next(t for t in at.text_area if t.label.startswith("Addresses of photos of Ann"))
    box.input(f"{base}/ann.jpg\n{base}/page\n\n{base}/missing.jpg\nhttp://10.0.0.1/x.jpg").run()
    at.button(key="download_urls").click().run()
    assert_clean(at)
    assert any(s.value.startswith("Downloaded 1 photo for Ann") for s in at.success)
    assert any(w.value == "Failed: 3 addresses." for w in at.warning)
    table = next(frame for frame in at.dataframe if "address" in frame.value.columns)
    assert column_widths(table)["why"] == "large"  # as in the zip import's report (issue 23)
    failed = table.value
    reasons = dict(zip(failed["address"], failed["why"], strict=True))
    assert "not an image" in reasons[f"{base}/page"]
    assert "404" in reasons[f"{base}/missing.jpg"]
    assert "private or local address" in reasons["http://10.0.0.1/x.jpg"]
    assert [p.photos for p in DatasetStore(dataset).people()] == [1]
    assert next(t for t in at.text_area if t.label.startswith("Addresses")).value == ""  # emptied


def test_dataset_imports_a_csv_of_people_and_addresses(env, site, make_photo, monkeypatch):
    from conftest import jpeg_route

    dataset, _ = env
    served, base = site
    served.routes["/ann.jpg"] = jpeg_route(make_photo("red", 1))
    served.routes["/bob.jpg"] = jpeg_route(make_photo("blue", 2))
    monkeypatch.setenv("CELEB_ALLOWED_HOSTS", base.removeprefix("http://"))  # host:port
    listing = f"person,url\nAnn,{base}/ann.jpg\nBob Beamon,{base}/bob.jpg\n".encode()
    DatasetStore(dataset).add_person("Someone")
    at = app(DATASET)
    at.file_uploader(key="url_csv_0").set_value(("urls.csv", listing, "text/csv")).run()
    at.button(key="download_csv").click().run()
    assert_clean(at)
    assert any(s.value.startswith("Downloaded 2 photos for Ann, Bob Beamon") for s in at.success)
    photos = {p.name: p.photos for p in DatasetStore(dataset).people()}
    assert photos == {"Ann": 1, "Bob Beamon": 1, "Someone": 0}
    # The same list again adds nothing.
    at.file_uploader(key="url_csv_1").set_value(("urls.csv", listing, "text/csv")).run()
    at.button(key="download_csv").click().run()
    assert any(i.value == "Skipped: 2 addresses." for i in at.info)


def test_dataset_refuses_a_malformed_csv_with_its_row(env):
    dataset, _ = env
    DatasetStore(dataset).add_person("Someone")
    at = app(DATASET)
    listing = ("urls.csv", b"person,url\nonly-one-cell\n", "text/csv")
    at.file_uploader(key="url_csv_0").set_value(listing).run()
    at.button(key="download_csv").click().run()
    assert_clean(at)
    assert any("Row 2 of the CSV should be 'person,url'" in e.value for e in at.error)


# ---------------------------------------------------------------- each engine's crops


@needs_dlib
def test_dataset_finds_and_shows_each_engines_crops(env, make_photo):
    dataset, _ = env
    store = store_with_photos(dataset, make_photo, {"Ann": ("red", 2)}, process=False)
    store.find_faces(engine="classic")  # classic crops only
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["engine"] = "embeddings"
    at.run()
    at.switch_page(DATASET).run()
    assert_clean(at)
    find = next(b for b in at.button if b.label.startswith("Find faces in 2 new photos"))
    after_the_search(find.click().run())
    assert_clean(at)
    assert any("Searched 2 photos" in s.value for s in at.success)
    crops = store.crops("Ann", engine="embeddings")
    assert len(crops) == 2 and {c.record.engine for c in crops} == {"embeddings"}
    assert [c.record.id for c in store.crops("Ann", engine="classic")] != [c.record.id for c in crops]
    shown = {b.key for b in at.button if b.key and b.key.startswith("reject_") and b.key != "reject_selected"}
    assert shown == {f"reject_{c.record.id}" for c in crops}  # the grid shows this engine's crops


def test_finding_faces_goes_on_while_the_owner_uses_other_pages(env, make_photo, monkeypatch):
    import threading

    from celeb_app import background

    dataset, _ = env
    store_with_photos(dataset, make_photo, {"Ann": ("red", 2)}, process=False)
    release = threading.Event()
    find_faces = DatasetStore.find_faces

    def held_back(self, *args, **kwargs):
        assert release.wait(60)
        return find_faces(self, *args, engine="classic", **{k: v for k, v in kwargs.items() if k != "engine"})

    monkeypatch.setattr(DatasetStore, "find_faces", held_back)
    at = app(DATASET)
    next(b for b in at.button if b.label.startswith("Find faces in 2 new photos")).click().run()
    assert_clean(at)
    # The page is drawn while the search runs: its progress, and every other control.
    assert not any(b.label.startswith("Find faces") for b in at.button)
    assert "Add person" in [b.label for b in at.button]
    search = background.current_search(DatasetStore(dataset), "embeddings")  # the page's engine
    assert search is not None and search.running
    at.switch_page(TRAIN).run()
    assert_clean(at)
    release.set()
    assert search.wait(60)
    at.switch_page(DATASET).run()
    assert_clean(at)
    assert any("Searched 2 photos" in s.value for s in at.success)
    assert DatasetStore(dataset).people("classic")[0].kept == 2
    at.run()
    assert not any("Searched 2 photos" in s.value for s in at.success)  # said once


def test_a_long_people_list_can_be_searched(env):
    """Issue 20: from a squad to a league, the people list has a search box (past 20 people)."""
    dataset, _ = env
    store = DatasetStore(dataset)
    for number in range(25):
        store.add_person(f"Player {number:02d}")
    store.add_person("Zoë Bel")
    at = app(DATASET)
    assert_clean(at)
    at.text_input(key="people_search").set_value("zoe").run()
    (table,) = [d.value for d in at.dataframe if "person" in d.value.columns]
    assert table["person"].tolist() == ["Zoë Bel"]
    assert any("1 of 26 people" in c.value for c in at.caption)
