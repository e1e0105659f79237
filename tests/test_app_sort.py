"""Sorting many photos on the Classify page, and the zip it offers (celeb/sort/)."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from app_helpers import app, assert_clean, jpeg, tiny_bundle

from celeb.classify import FacePrediction
from celeb.config import CLASSIFY_DETAILS_MAX_PHOTOS
from celeb.faces import Box
from celeb.registry import ModelRegistry
from celeb.sort.download import sorted_zip
from celeb.sort.report import NO_FACE, UNKNOWN, sorted_photo

pytestmark = pytest.mark.usefixtures("local_browser")  # the owner, unless a test makes it a visitor


def downloads(at) -> list[str]:
    return [element.proto.label for element in at.get("download_button")]


def test_a_few_photos_show_their_details_and_who_is_where(env, astronaut):
    _, models = env
    ModelRegistry(models).activate(tiny_bundle())
    at = app()
    files = [(f"photo {n}.jpg", jpeg(astronaut), "image/jpeg") for n in range(2)]
    at.file_uploader(key="photos").set_value(files).run()
    assert_clean(at)
    assert [s.value for s in at.subheader][:2] == ["photo 0\\.jpg", "photo 1\\.jpg"]
    assert "Who is where" in [s.value for s in at.subheader]
    [table] = at.dataframe
    assert list(table.value["photo"]) == ["photo 0.jpg", "photo 1.jpg"]
    assert downloads(at) == ["Download the table (CSV)", "Download the photos in folders (zip)"]


def test_many_photos_are_sorted_into_a_table_without_details(env, astronaut):
    _, models = env
    ModelRegistry(models).activate(tiny_bundle())
    at = app(timeout=120)
    count = CLASSIFY_DETAILS_MAX_PHOTOS + 2
    files = [(f"p{n:02d}.jpg", jpeg(astronaut), "image/jpeg") for n in range(count)]
    at.file_uploader(key="photos").set_value(files).run()
    assert_clean(at)
    assert any(f"{count} photos: sorted by who is in them" in i.value for i in at.info)
    assert [s.value for s in at.subheader] == ["Who is where"]  # no photo's own section
    [table] = at.dataframe
    assert len(table.value) == count
    assert not at.get("vega_lite_chart")


def face(person: str | None) -> FacePrediction:
    return FacePrediction(Box(0, 0, 10, 10), person, 0.9, {"Ann": 0.9, "Bob": 0.1}, True, None)


def test_the_zip_holds_each_photo_in_every_folder_it_goes_to_and_the_table():
    photos = [
        (sorted_photo("team.jpg", b"A", [face("Ann"), face("Bob")]), b"A"),
        (sorted_photo("trip/team.jpg", b"B", [face("Ann"), face(None)]), b"B"),
        (sorted_photo("wall.png", b"C", []), b"C"),
    ]
    archive = zipfile.ZipFile(io.BytesIO(sorted_zip(photos)))
    files = {name: archive.read(name) for name in archive.namelist()}
    table = list(csv.DictReader(io.StringIO(files.pop("sorted.csv").decode())))
    assert files == {
        "Ann/team.jpg": b"A",
        "Bob/team.jpg": b"A",
        "Ann/team (2).jpg": b"B",  # another photo of the same name in the same folder
        f"{UNKNOWN}/team.jpg": b"B",
        f"{NO_FACE}/wall.png": b"C",
    }
    assert [row["photo"] for row in table] == ["team.jpg", "trip/team.jpg", "wall.png"]
    assert table[1]["folders"] == f"Ann; {UNKNOWN}"


def test_the_owners_sorted_strangers_are_grouped_and_a_visitors_are_not(env, local_browser, astronaut):
    from app_helpers import activate_model_near, as_visitor

    from celeb.engines import engine_available

    if not engine_available("embeddings"):
        pytest.skip("the embeddings engine is not installed")
    _, models = env
    # The astronaut is a stranger to this model: her photos' faces are grouped for the owner.
    activate_model_near(models, astronaut)
    files = [(f"stranger {n}.jpg", jpeg(astronaut), "image/jpeg") for n in range(2)]
    at = app(timeout=60)
    at.file_uploader(key="photos").set_value(files).run()
    assert_clean(at)
    [table] = at.dataframe
    assert set(table.value["folders"]) == {"unknown/group-01"}
    as_visitor(local_browser)
    at = app(timeout=60)
    at.file_uploader(key="photos").set_value(files).run()
    assert_clean(at)
    [table] = at.dataframe
    assert set(table.value["folders"]) == {"unknown"}
