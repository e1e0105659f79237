"""Tests for DatasetStore.add_chosen_face: a face the owner named (Strangers) as a kept crop."""

from __future__ import annotations

import pytest

from celeb.dataset import DatasetStore
from celeb.engines import get_engine
from celeb.errors import DatasetError
from celeb.images import decode_png, read_image
from celeb.manifest import KEPT


def face_box(data: bytes) -> list[int]:
    photo = read_image(data)
    return get_engine("classic").detect(photo.rgb)[0].box.scaled(photo.scale).as_list()


def test_a_chosen_face_is_a_kept_user_chosen_crop_of_a_searched_photo(tmp_path, make_photo):
    store = DatasetStore(tmp_path / "data")
    store.add_person("Ann")
    data = make_photo("none", 1)
    box = face_box(data)
    crop_id = store.add_chosen_face("Ann", data, "album/one.jpg", box, engine="classic")
    (crop,) = store.crops("Ann", engine="classic")
    assert crop.record.id == crop_id
    assert crop.record.status == KEPT and crop.record.auto is False
    assert crop.record.engine == "classic" and crop.record.box == box
    assert crop.photo_filename == "one.jpg"
    assert decode_png(crop.path).shape == (128, 128, 3)  # the engine's own crop
    (summary,) = store.people("classic")
    assert (summary.photos, summary.unprocessed, summary.kept) == (1, 0, 1)
    # Find faces does not redo the photo, and the same face again changes nothing.
    assert store.find_faces(engine="classic").photos == 0
    assert store.add_chosen_face("Ann", data, "one.jpg", box, engine="classic") == crop_id
    assert len(store.crops("Ann", engine="classic")) == 1


def test_a_rejected_face_already_cropped_is_kept_when_chosen(tmp_path, make_photo):
    store = DatasetStore(tmp_path / "data")
    store.add_person("Ann")
    data = make_photo("none", 2)
    store.add_photo("Ann", data, "two.jpg")
    store.find_faces(engine="classic")
    (crop,) = store.crops("Ann", engine="classic")
    store.set_status([crop.record.id], "rejected")
    assert store.add_chosen_face("Ann", data, "two.jpg", crop.record.box, engine="classic") == crop.record.id
    (crop,) = store.crops("Ann", engine="classic")
    assert crop.record.status == KEPT and crop.record.auto is False


def test_a_photo_of_another_person_is_refused(tmp_path, make_photo):
    store = DatasetStore(tmp_path / "data")
    store.add_person("Ann")
    store.add_person("Bob")
    data = make_photo("none", 3)
    store.add_photo("Bob", data, "three.jpg")
    with pytest.raises(DatasetError, match="Bob"):
        store.add_chosen_face("Ann", data, "three.jpg", face_box(data), engine="classic")
    assert store.crops("Ann", engine="classic") == []
