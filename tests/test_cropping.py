"""Tests for celeb.cropping: faces found and cropped in a dataset's photos, the largest kept."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import manifest, tiny_png

from celeb.cropping import CropReport
from celeb.dataset import DatasetStore
from celeb.errors import DatasetError
from celeb.images import decode_png
from celeb.manifest import KEPT, REJECTED, PersonSummary


def test_find_faces_makes_one_kept_crop_per_photo(cropped: DatasetStore):
    assert [(p.name, p.photos, p.unprocessed, p.kept, p.rejected) for p in cropped.people("classic")] == [
        ("Ada", 4, 0, 4, 0),
        ("Bo", 4, 0, 4, 0),
    ]
    crops = cropped.crops("Ada", engine="classic")
    assert len(crops) == 4
    photos = manifest(cropped)["people"]["ada"]["photos"]
    for crop in crops:
        assert crop.person == "Ada"
        assert crop.record.status == KEPT and crop.record.reason == ""
        assert crop.record.clean is True and crop.record.rank == 0
        assert crop.record.id == f"{crop.record.photo[:16]}_0"
        assert crop.path == cropped.root / "ada" / "crops" / f"{crop.record.id}.png"
        image = decode_png(crop.path)
        assert image.shape == (128, 128, 3) and image.dtype == np.uint8
        x, y, w, h = crop.record.box
        assert x >= 0 and y >= 0 and x + w <= 256 and y + h <= 256 and w > 40
        assert crop.photo_path == cropped.root / photos[crop.record.photo]["stored"]
        assert crop.photo_filename == photos[crop.record.photo]["filename"]
        assert photos[crop.record.photo]["searched"] == ["classic"]
        assert photos[crop.record.photo]["faces_found"] == {"classic": 1}
    assert sorted(c.photo_filename for c in crops) == [f"Ada {seed}.jpg" for seed in range(4)]
    # Photo by photo: in the order they were added (to the second), then by content hash.
    order = [(photos[c.record.photo]["added"], c.record.photo) for c in crops]
    assert order == sorted(order)


def test_find_faces_again_does_nothing(cropped: DatasetStore):
    calls = []
    before = manifest(cropped)
    report = cropped.find_faces(engine="classic", progress=lambda done, total: calls.append((done, total)))
    assert report == CropReport(photos=0, faces=0, clean_faces=0, kept=0)
    assert calls == []
    assert manifest(cropped) == before


def test_find_faces_for_some_people_only(store: DatasetStore, make_photo):
    store.add_person("Ada")
    store.add_person("Bo")
    store.add_photo("Ada", make_photo("red", 1), "a.jpg")
    store.add_photo("Bo", make_photo("blue", 1), "b.jpg")
    assert store.find_faces(["ada"]) == CropReport(photos=1, faces=1, clean_faces=1, kept=1)
    assert [(p.name, p.unprocessed, p.kept) for p in store.people()] == [("Ada", 0, 1), ("Bo", 1, 0)]
    with pytest.raises(DatasetError):
        store.find_faces(["Nobody"])


def test_photo_without_a_face_is_processed_with_no_crop(store: DatasetStore):
    store.add_person("Ada")
    store.add_photo("Ada", tiny_png(1, size=200), "noise.png")
    assert store.find_faces() == CropReport(photos=1, faces=0, clean_faces=0, kept=0)
    assert store.people()[0] == PersonSummary("Ada", "ada", photos=1, unprocessed=0, kept=0, rejected=0)
    assert store.crops("Ada") == []


def test_smaller_faces_of_a_group_photo_are_rejected(
    store: DatasetStore, astronaut: np.ndarray, encode_image
):
    import cv2

    head = np.ascontiguousarray(astronaut[30:220, 140:310])
    canvas = np.full((600, 900, 3), 128, np.uint8)
    canvas[150:340, 60:230] = cv2.resize(head, (170, 190), interpolation=cv2.INTER_AREA)
    canvas[100:480, 530:870] = cv2.resize(head, (340, 380), interpolation=cv2.INTER_LINEAR)
    store.add_person("Ada")
    store.add_photo("Ada", encode_image(canvas, "PNG"), "group.png")
    assert store.find_faces() == CropReport(photos=1, faces=2, clean_faces=2, kept=1)
    first, second = store.crops("Ada")
    assert (first.record.rank, first.record.status, first.record.reason) == (0, KEPT, "")
    assert (second.record.rank, second.record.status) == (1, REJECTED)
    assert second.record.reason == "smaller face in a photo with several faces"
    assert first.record.box[2] > second.record.box[2] * 1.5
    assert first.record.box[0] > 450  # the large face is the one on the right
    assert [c.record.id for c in store.crops("Ada", KEPT)] == [first.record.id]
    assert [c.record.id for c in store.crops("Ada", REJECTED)] == [second.record.id]


def test_rejected_crop_stays_rejected_after_more_cropping(cropped: DatasetStore, make_photo):
    rejected = cropped.crops("Ada", engine="classic")[0].record.id
    cropped.set_status([rejected], REJECTED)
    assert cropped.crop(rejected).record.status == REJECTED
    assert cropped.crop(rejected).record.reason == "by you"
    assert cropped.add_photo("Ada", make_photo("red", 50), "new.jpg").added == ["new.jpg"]
    assert cropped.find_faces(engine="classic") == CropReport(photos=1, faces=1, clean_faces=1, kept=1)
    assert cropped.crop(rejected).record.status == REJECTED
    people = cropped.people("classic")
    assert [(p.name, p.kept, p.rejected) for p in people] == [("Ada", 4, 1), ("Bo", 4, 0)]
    cropped.set_status([rejected], KEPT)
    assert (cropped.crop(rejected).record.status, cropped.crop(rejected).record.reason) == (KEPT, "")
