"""Tests for celeb.curation: a person's crops flagged as near duplicates, tiny, damaged, named
otherwise by the model, or unlike the person's other faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import constant_bundle

from celeb.curation import (
    DAMAGED,
    DUPLICATE,
    MODEL,
    TINY,
    FlagSettings,
    _comparable_gallery,
    flag_crops,
    flagged_first,
)
from celeb.dataset import DatasetStore
from celeb.engines import engine_available, get_engine
from celeb.manifest import REJECTED
from celeb.model import Gallery, ModelBundle


@pytest.fixture
def ann_store(tmp_path: Path, make_photo) -> DatasetStore:
    """Ann with three tinted, noisy copies of one photo, cropped by the classic engine.

    The similarities below were measured on its crops, and the model flags need
    crops of the model's engine (``constant_bundle`` is a classic model).
    """
    store = DatasetStore(tmp_path / "dataset")
    store.add_person("Ann")
    for seed in (0, 1, 3):
        store.add_photo("Ann", make_photo("red", seed), f"ann-{seed}.jpg")
    store.find_faces(engine="classic", workers=1)
    assert len(store.crops("Ann", engine="classic")) == 3
    return store


def test_near_duplicates_are_flagged_once(ann_store: DatasetStore):
    crops = ann_store.crops("Ann", engine="classic")
    order = [crop.record.id for crop in crops]
    flags = flag_crops(crops)
    # Two of the three photos give the same crop (similarity 0.997); the third
    # face is found a pixel wider, so its crop is shifted (about 0.91).
    (copy,) = flags
    (flag,) = flags[copy]
    assert flag.kind == DUPLICATE
    assert order.index(flag.other) < order.index(copy)  # the later one is flagged
    original = next(crop for crop in crops if crop.record.id == flag.other)
    assert original.photo_filename in flag.message
    # Nothing is a duplicate at an impossible similarity.
    assert not flag_crops(crops, settings=FlagSettings(duplicate_similarity=1.01))


def test_a_copy_of_a_rejected_crop_is_not_flagged(ann_store: DatasetStore):
    (flag,) = next(iter(flag_crops(ann_store.crops("Ann", engine="classic")).values()))
    ann_store.set_status([flag.other], REJECTED)
    flags = flag_crops(ann_store.crops("Ann", engine="classic"))
    assert not any(f.kind == DUPLICATE for found in flags.values() for f in found)


def test_tiny_damaged_and_model_flags(ann_store: DatasetStore):
    crops = ann_store.crops("Ann", engine="classic")
    crops[2].path.write_bytes(b"broken")
    flags = flag_crops(
        crops,
        constant_bundle("Zed"),
        FlagSettings(tiny_pixels=10_000, duplicate_similarity=1.01),
    )
    kinds = {crop_id: {f.kind for f in found} for crop_id, found in flags.items()}
    assert kinds[crops[0].record.id] == {TINY, MODEL}
    assert kinds[crops[2].record.id] == {TINY, DAMAGED}
    assert "the model says Zed (100%)" in [f.message for f in flags[crops[0].record.id]]
    # A model that agrees, or that does not know the person, flags nothing.
    assert not flag_crops(crops[:2], constant_bundle("Ann"), FlagSettings(duplicate_similarity=1.01))
    assert not flag_crops(
        crops[:2], constant_bundle("Bo", ("Bo", "Zed")), FlagSettings(duplicate_similarity=1.01)
    )


def test_flagged_first_keeps_the_order_otherwise(ann_store: DatasetStore):
    crops = ann_store.crops("Ann", engine="classic")
    flags = flag_crops(crops, settings=FlagSettings(duplicate_similarity=1.01, tiny_pixels=0))
    assert flagged_first(crops, flags) == crops
    last = crops[2].record.id
    flags = {last: flag_crops(crops, settings=FlagSettings(tiny_pixels=10_000))[last]}
    assert [c.record.id for c in flagged_first(crops, flags)] == [
        last,
        crops[0].record.id,
        crops[1].record.id,
    ]


def test_a_crop_unlike_the_persons_other_faces_may_be_someone_else(tmp_path: Path, monkeypatch):
    """Issue 19: flags come from distances between the person's own faces (an identity engine's),
    not from the model agreeing with itself: the crop far from the others is flagged, and first."""
    from celeb import curation
    from celeb.curation import SOMEONE_ELSE
    from celeb.manifest import Crop, CropRecord

    # Six crops of six photos: five close together, one (index 2) 1.0 away, another person.
    places = [np.eye(8)[0] * 0.05 * i for i in range(6)]
    places[2] = np.eye(8)[1]

    class Identity:
        """An open-set engine whose embedding of crop i is places[i] (the crop's pixels hold i)."""

        open_set = True

        def features(self, rgb: np.ndarray) -> np.ndarray:
            return places[int(rgb[0, 0, 0])]

    monkeypatch.setattr(curation, "get_engine", lambda name: Identity())
    monkeypatch.setattr(curation, "decode_png", lambda path: np.full((4, 4, 3), int(path.stem), np.uint8))
    crops = [
        Crop(
            "Ann",
            CropRecord(f"c{i}", f"photo{i}", [0, 0, 100, 100], True, 0, engine="identity"),
            tmp_path / f"{i}.png",
            tmp_path / f"photo{i}.jpg",
            f"photo{i}.jpg",
        )
        for i in range(6)
    ]
    flags = flag_crops(crops, settings=FlagSettings(duplicate_similarity=1.01, tiny_pixels=0))
    assert {crop_id: [f.kind for f in found] for crop_id, found in flags.items()} == {"c2": [SOMEONE_ELSE]}
    assert "most of this person's other faces are farther than 0.60" in flags["c2"][0].message
    assert [c.record.id for c in flagged_first(crops, flags)][:2] == ["c2", "c0"]


@pytest.mark.skipif(
    not engine_available("embeddings"),
    reason="embeddings engine not installed (pip install -r requirements.txt)",
)
def test_a_model_whose_faces_were_described_otherwise_is_not_compared_with_todays_crops():
    """Curation's "nearer to another person" compares today's crops with the active model's
    training faces only where both are described the same way: a model made before faces were
    described with their mirror image is left out until it is retrained."""
    today = get_engine("embeddings")
    gallery = Gallery(np.eye(2, 128, dtype=np.float32), ["Ann", "Bob"], 0.5)

    def model(settings: dict) -> ModelBundle:
        return ModelBundle(
            estimator=None,
            classes=["Ann", "Bob"],
            engine="embeddings",
            gallery=gallery,
            engine_settings=settings,
        )

    assert _comparable_gallery(model(today.settings()), today) is gallery
    assert _comparable_gallery(model({"detector": "hog+mtcnn"}), today) is None  # one view
    assert _comparable_gallery(None, today) is None
