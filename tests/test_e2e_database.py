"""Issue 22 end to end: the app on a fresh PostgreSQL keeps everything across a restart that loses
its working folder.

A real ``streamlit run app.py`` (e2e_harness.py, as test_e2e.py) with ``CELEB_DATABASE_URL`` set to a new,
empty database of the tests' own PostgreSQL server (conftest.py's ``postgres_url``), its working
folder under a tmp ``CELEB_WORK_DIR``, and ``CELEB_DATASET_DIR`` / ``CELEB_MODELS_DIR`` empty
folders: nothing can come from the folders. In Chromium, as the owner (the browser is on the app's
computer): two people are added with photos, their faces found, a crop rejected, a model trained,
made active and used; a Strangers group is named and the model retrained on it. Then the app is
stopped, its working folder deleted, and the app started again: the browser finds every person,
photo count, rejection and the model as they were.

The default engine (embeddings) tells people apart by face, not by colour, so the three people are
three real faces shipped with the dependencies: scikit-image's astronaut (Ann) and cameraman (Bob),
and matplotlib's Grace Hopper, whom the first model does not know (the stranger, named Cid).
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import TINTS, encode, tinted
from e2e_harness import (
    TRAINING,
    Page,
    Server,
    Servers,
    add_person,
    assert_no_failure,
    expect,
    open_app,
    photo_picker,
    running_done,
)
from PIL import Image
from skimage import data as skdata

from celeb.database import DatabaseModels, database
from celeb.dataset import KEPT, REJECTED, DatasetStore
from celeb.stores import store_location

#: Every photo of a person is a different tint of one picture: the bytes differ, the face does not.
COLOURS = tuple(TINTS)


def _photos(rgb: np.ndarray, stem: str, count: int, first_seed: int) -> list[dict]:
    """``count`` JPEGs of ``rgb`` as Playwright's set_input_files takes them."""
    return [
        {
            "name": f"{stem}-{number}.jpg",
            "mimeType": "image/jpeg",
            "buffer": encode(tinted(rgb, COLOURS[number % len(COLOURS)], first_seed + number)),
        }
        for number in range(count)
    ]


@pytest.fixture(scope="module")
def faces(small_astronaut: np.ndarray) -> dict[str, np.ndarray]:
    """Three people's faces, one picture each (RGB)."""
    from matplotlib import cbook

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as image:
        hopper = np.asarray(image.convert("RGB"))
    return {
        "Ann": small_astronaut,
        "Bob": np.ascontiguousarray(np.stack([skdata.camera()] * 3, axis=-1)),
        "Cid": cv2.resize(hopper, (256, 300), interpolation=cv2.INTER_AREA),
    }


@pytest.fixture
def db_app(
    servers: Servers, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Server]:
    """The app on a fresh database, with empty dataset and models folders (no shipped model
    either); stopped before the database is dropped. Ask for it before ``page``."""
    monkeypatch.setenv("CELEB_DATABASE_URL", postgres_url)
    monkeypatch.setenv("CELEB_WORK_DIR", str(tmp_path / "work"))
    server = servers.start("database", model=lambda path: None)
    yield server
    servers.stop(server)


def files_in(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


def add_photos(tab: Page, person: str, photos: list[dict]) -> None:
    """Pick ``photos`` in the Dataset page's photo picker and add them to ``person``."""
    photo_picker(tab).get_by_test_id("stFileUploaderDropzoneInput").set_input_files(photos)
    expect(photo_picker(tab).get_by_test_id("stFileChipIconSpinner")).to_have_count(0)
    expect(tab.get_by_text(f"Added {person}.")).to_have_count(0)  # the rerun has started
    running_done(tab)
    tab.get_by_role("tab", name="Add photos").click()  # it may have snapped back to Crops
    add = tab.get_by_role("button", name=f"Add {len(photos)} files to {person}")
    expect(add).to_be_enabled()
    add.click()
    expect(tab.get_by_text(f"Added {len(photos)} photos to {person}.")).to_be_visible()
    running_done(tab)


def choose_person(tab: Page, name: str) -> None:
    person = tab.get_by_role("combobox", name="Person")
    person.click()
    tab.get_by_role("option", name=name, exact=True).click()
    expect(person).to_have_value(name)
    running_done(tab)


def classify(tab: Page, server: Server, photos: list[dict]) -> None:
    open_app(tab, server)
    expect(tab.get_by_role("heading", name="Who is this?")).to_be_visible()
    tab.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(photos)


def answers(tab: Page):
    """Each classified photo's one-line answer ("1 face: Ann"), in the photos' order."""
    return tab.get_by_text(re.compile(r"^\d+ faces?: "))


def model_card(tab: Page):
    return tab.get_by_test_id("stSidebar").get_by_text(re.compile(r"^Knows \d+ people: "))


def test_everything_is_kept_in_the_database_across_a_restart_without_the_working_folder(
    db_app: Server, page: Page, postgres_url: str, tmp_path: Path, faces: dict[str, np.ndarray]
):
    server = db_app
    # Training needs faces from 5 photos of each person: Ann has a sixth, whose crop is rejected.
    ann, bob = _photos(faces["Ann"], "ann", 6, 0), _photos(faces["Bob"], "bob", 5, 100)
    album = _photos(faces["Cid"], "album", 5, 200)
    probes = [_photos(faces["Ann"], "probe-ann", 1, 50)[0], _photos(faces["Cid"], "probe-cid", 1, 300)[0]]
    # "PostgreSQL 127.0.0.1:PORT/NAME", shown as escaped markdown (celeb_app.text.md): a word joiner
    # follows each colon in the page's text.
    where = "".join(":\u2060?" if char == ":" else re.escape(char) for char in database(postgres_url).shown())
    work = store_location(postgres_url).dataset.parent  # the app's working folder, as the app finds it
    assert work.parent == tmp_path / "work"  # CELEB_WORK_DIR, deleted whole below

    # ------------------------------------------------------------ a fresh database: nothing yet
    open_app(page, server)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text(re.compile(rf"Your work is kept in {where}\.$"))).to_be_visible()
    expect(sidebar.get_by_text("No model yet.", exact=False)).to_be_visible()

    # ------------------------------------------------------------ Dataset: people, photos, faces, a rejection
    open_app(page, server, "dataset")
    expect(page.get_by_text("No people yet")).to_be_visible()
    add_person(page, "Ann")
    add_photos(page, "Ann", ann)
    add_person(page, "Bob")
    add_photos(page, "Bob", bob)
    page.get_by_role("button", name="Find faces in 11 new photos").click()
    expect(page.get_by_text("Searched 11 photos: found 11 faces, kept 11.")).to_be_visible()
    running_done(page)
    choose_person(page, "Ann")
    page.get_by_role("tab", name="Crops").click()
    crops = page.get_by_test_id("stTabPanel").get_by_test_id("stImage")
    expect(crops).to_have_count(6)
    page.get_by_role("button", name="Reject", exact=True).first.click()
    expect(page.get_by_text("6 photos · 5 kept crops · 1 rejected · 0 not searched yet")).to_be_visible()
    expect(crops).to_have_count(5)  # the "Kept" filter hides it
    assert_no_failure(page, server)

    # ------------------------------------------------------------ Train, use the model, classify
    open_app(page, server, "train")
    page.get_by_test_id("stFormSubmitButton").get_by_role("button", name="Train").click()
    expect(page.get_by_role("heading", name="New model", level=3)).to_be_visible(timeout=TRAINING)
    running_done(page)
    page.get_by_role("button", name="Use this model").click()
    expect(page.get_by_text("This model is active: the Classify page uses it.")).to_be_visible()
    expect(model_card(page)).to_have_text("Knows 2 people: Ann, Bob")
    assert_no_failure(page, server)

    classify(page, server, probes[:1])
    expect(answers(page)).to_have_text(["1 face: Ann"])
    assert_no_failure(page, server)

    # ------------------------------------------------------------ Strangers: a group named, retrained on
    open_app(page, server, "strangers")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(album)
    expect(page.get_by_role("heading", name=re.compile(r"^group-01: 5 faces in 5 photos"))).to_be_visible()
    running_done(page)
    form = page.get_by_test_id("stForm").first
    form.get_by_label("New person's name").fill("Cid")
    form.get_by_role("button", name="Name this group").click()
    expect(page.get_by_text("5 faces added to Cid as kept crops")).to_be_visible()
    running_done(page)
    page.get_by_role("button", name="Retrain now").click()
    expect(page.get_by_text(re.compile(r"^New model: .+, test accuracy \d+%"))).to_be_visible(
        timeout=TRAINING
    )
    running_done(page)
    page.get_by_role("button", name="Use this model").click()
    expect(page.get_by_text("This model is active: the Classify page uses it.")).to_be_visible()
    expect(model_card(page)).to_have_text("Knows 3 people: Ann, Bob, Cid")
    assert_no_failure(page, server)

    classify(page, server, probes)
    expect(answers(page)).to_have_text(["1 face: Ann", "1 face: Cid"])
    assert_no_failure(page, server)

    # The database holds it all (read into a folder of the test's own, not the app's).
    held = DatasetStore(tmp_path / "probe" / "dataset", read_only=True, database=database(postgres_url))
    counts = {p.name: (p.photos, p.kept, p.rejected, p.unprocessed) for p in held.people()}
    assert counts == {"Ann": (6, 5, 1, 0), "Bob": (5, 5, 0, 0), "Cid": (5, 5, 0, 0)}
    (rejected,) = held.crops("Ann", status=REJECTED)
    assert rejected.record.reason == "by you"
    assert all(c.record.status == KEPT and not c.record.auto for c in held.crops("Cid"))
    models = DatabaseModels(database(postgres_url), tmp_path / "probe" / "models", read_only=True)
    assert models.active_info().classes == ["Ann", "Bob", "Cid"]
    assert [info.classes for info in models.history()] == [["Ann", "Bob"]]
    records = held.records()

    # ------------------------------------------------------------ restart without the working folder
    assert (work / "dataset").is_dir() and (work / "models" / "model.joblib").is_file()
    server.app.stop()
    shutil.copy2(server.log, server.log.with_name("server-before-restart.log"))  # start() overwrites it
    shutil.rmtree(work.parent)
    assert not work.parent.exists()
    server.app.start()

    open_app(page, server)
    expect(
        page.get_by_test_id("stSidebar").get_by_text(re.compile(rf"Your work is kept in {where}\.$"))
    ).to_be_visible()
    expect(model_card(page)).to_have_text("Knows 3 people: Ann, Bob, Cid")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(probes)
    expect(answers(page)).to_have_text(["1 face: Ann", "1 face: Cid"])
    assert_no_failure(page, server)

    open_app(page, server, "dataset")
    expect(page.get_by_role("heading", name="Dataset", exact=True)).to_be_visible()
    for name, caption in (
        ("Bob", "5 photos · 5 kept crops · 0 rejected · 0 not searched yet"),
        ("Cid", "5 photos · 5 kept crops · 0 rejected · 0 not searched yet"),
        ("Ann", "6 photos · 5 kept crops · 1 rejected · 0 not searched yet"),
    ):
        choose_person(page, name)
        expect(page.get_by_text(caption)).to_be_visible()
    page.get_by_role("combobox", name="Person").click()
    expect(page.get_by_role("option")).to_have_text(["Ann", "Bob", "Cid"])
    page.keyboard.press("Escape")
    page.get_by_role("tab", name="Crops").click()
    expect(crops).to_have_count(5)
    page.get_by_role("radio", name="Rejected", exact=True).click()
    expect(page.get_by_role("radio", name="Rejected", exact=True)).to_be_checked()
    expect(crops).to_have_count(1)
    panel = page.get_by_test_id("stTabPanel").first
    expect(panel.get_by_text("Rejected: by you")).to_be_visible()
    expect(panel.get_by_role("button", name="Restore", exact=True)).to_have_count(1)
    # The crop's picture itself came back from the database.
    image = crops.locator("img")
    expect(image).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert_no_failure(page, server)

    open_app(page, server, "train")
    expect(page.get_by_text(re.compile(r"^Active: trained .+, knows Ann, Bob, Cid\.$"))).to_be_visible()
    expect(page.get_by_role("button", name="Make active")).to_have_count(1)  # the first model, in the history
    expect(page.get_by_text(re.compile(r"^Knows Ann, Bob · replaced "))).to_be_visible()
    assert_no_failure(page, server)

    # The working folder was made again from the database, every photo and crop; the database's
    # records are as they were; the folders stayed empty throughout.
    assert (work / "models" / "model.joblib").is_file()
    refilled = Counter(
        path.relative_to(work / "dataset").parts[:2]
        for path in files_in(work / "dataset")
        if path.parent.name in ("photos", "crops")
    )
    assert refilled == {
        **{(slug, "photos"): count for slug, count in (("ann", 6), ("bob", 5), ("cid", 5))},
        **{(slug, "crops"): count for slug, count in (("ann", 6), ("bob", 5), ("cid", 5))},
    }
    assert held.records() == records
    assert files_in(server.dataset) == [] and files_in(server.models) == []
