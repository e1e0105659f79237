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


@pytest.mark.parametrize("moment", ["_crop_photo", "_commit_crops"])
def test_a_face_chosen_while_find_faces_runs_keeps_its_own_crop_and_vector(
    tmp_path, astronaut, encode_image, monkeypatch, moment
):
    """Issue 18: the owner names a group photo's smaller face (Strangers) while Find faces, started
    before, is searching that photo: the record, its crop file and its cached vector must all be
    the smaller face's, not Find faces' largest face written over them."""
    import cv2
    import numpy as np

    from celeb import cropping
    from celeb.feature_cache import engine_cache

    pytest.importorskip("dlib", reason="the embeddings engine needs dlib")
    head = np.ascontiguousarray(astronaut[30:220, 140:310])
    canvas = np.full((600, 900, 3), 128, np.uint8)
    canvas[150:340, 60:230] = cv2.resize(head, (170, 190), interpolation=cv2.INTER_AREA)
    canvas[100:480, 530:870] = cv2.resize(np.fliplr(head), (340, 380), interpolation=cv2.INTER_LINEAR)
    data = encode_image(canvas, "PNG")
    store = DatasetStore(tmp_path / "data")
    store.add_person("Ann")
    store.add_photo("Ann", data, "group.png")
    engine = store.engine("embeddings")
    photo = read_image(data)
    small = min(engine.detect(photo.rgb), key=lambda face: face.box.w)
    small_box = small.box.scaled(photo.scale).as_list()
    chosen: list[str] = []
    step = getattr(cropping, moment)

    def owner_chooses_then_step(*args, **kwargs):
        # Find faces listed the photo as not searched; the owner names its face before Find faces
        # crops it, or after it cropped it and before it records it.
        chosen.append(store.add_chosen_face("Ann", data, "group.png", small_box, engine="embeddings"))
        return step(*args, **kwargs)

    monkeypatch.setattr(cropping, moment, owner_chooses_then_step)
    store.find_faces(engine="embeddings")
    (crop,) = store.crops("Ann", engine="embeddings")
    assert crop.record.id == chosen[0] and crop.record.box == small_box
    expected = engine.crop(photo.rgb, small)
    assert np.abs(decode_png(crop.path).astype(int) - expected.astype(int)).mean() < 2
    vector = engine_cache(store.cache_folder, engine).get(crop.record.id)
    if vector is not None:  # cached only by whoever described this very crop
        assert np.linalg.norm(vector[0] - engine.features(expected)) < 0.05
    assert [p.name for p in crop.path.parent.iterdir() if p.name.endswith(".tmp")] == []
