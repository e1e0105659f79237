"""The Dataset page as a user curates: a new person opens on Add photos, a zip of people
folders is previewed then imported, crops are reviewed by their whole face at a fixed
width, and the flag summary speaks of what the filter shows.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import streamlit
import test_app
from test_app import DATASET, app, assert_clean, store_with_photos

from celeb.dataset import REJECTED, REVIEW_SIZE, DatasetStore

# test_app's fixtures, used here too: fresh folders, and a browser on this machine (the owner).
env = test_app.env
local_browser = test_app.local_browser


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
    assert any("Added 5 photos to Ann, Bob Lee" in test_app.plain(s.value) for s in at.success), [
        s.value for s in at.success
    ]
    skipped = at.dataframe[-1].value if "why" in at.dataframe[-1].value.columns else None
    assert skipped is not None and list(skipped["file"]) == ["people/readme.txt"]


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


@pytest.fixture
def shown_images(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, object]]:
    """(image, width) of every st.image the pages show (AppTest runs them in this process)."""
    shown: list[tuple[object, object]] = []
    real = streamlit.image

    def image(source, *args, **kwargs):
        shown.append((source, kwargs.get("width", "content")))
        return real(source, *args, **kwargs)

    monkeypatch.setattr(streamlit, "image", image)
    return shown


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
    assert [image.shape[:2] for image in grid] == [test_app.Image.open(crop.path).size[::-1]]


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
