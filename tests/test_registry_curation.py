"""celeb.registry (active model + history) and celeb.curation (crop flags)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier

from celeb import registry as registry_module
from celeb.curation import DAMAGED, DUPLICATE, MODEL, TINY, FlagSettings, flag_crops, flagged_first
from celeb.dataset import REJECTED, DatasetStore
from celeb.errors import ModelError
from celeb.features import FeatureSettings
from celeb.model import ModelBundle, load_bundle
from celeb.registry import ModelRegistry, bundle_bytes


def constant_bundle(answer: str, classes: tuple[str, ...] = ("Ann", "Zed"), when: str = "") -> ModelBundle:
    """A model that always answers ``answer`` with probability 1."""
    length = FeatureSettings().length
    features = np.zeros((len(classes), length), np.float32)
    estimator = DummyClassifier(strategy="constant", constant=answer).fit(features, list(classes))
    bundle = ModelBundle(estimator=estimator, classes=list(classes), metrics={"test_accuracy": 0.5})
    if when:
        bundle.trained_at = when
    return bundle


# ---------------------------------------------------------------- registry


def test_activate_keeps_the_replaced_model_in_history(tmp_path: Path):
    registry = ModelRegistry(tmp_path / "models")
    registry.activate(constant_bundle("Ann", when="2026-01-01T10:00:00+00:00"))
    assert registry.history() == []
    first = registry.active_bytes()
    version = registry.active_version()

    second = constant_bundle("Zed", when="2026-02-01T10:00:00+00:00")
    registry.activate(second)
    assert registry.active_version() != version
    (entry,) = registry.history()
    assert entry.path.read_bytes() == first
    assert entry.trained_at == "2026-01-01T10:00:00+00:00"
    assert entry.test_accuracy == 0.5 and entry.classes == ["Ann", "Zed"]
    assert entry.archived_at

    registry.activate(second)  # the same model again (a double click): nothing to keep
    assert len(registry.history()) == 1


def test_restore_swaps_the_active_model_with_an_earlier_one(tmp_path: Path):
    registry = ModelRegistry(tmp_path)
    registry.activate(constant_bundle("Ann", when="2026-01-01T10:00:00+00:00"))
    old = registry.active_bytes()
    registry.activate(constant_bundle("Zed", when="2026-02-01T10:00:00+00:00"))
    new = registry.active_bytes()
    (entry,) = registry.history()

    restored = registry.restore(entry.id)
    assert restored.trained_at.startswith("2026-01-01")
    assert registry.active_bytes() == old
    (entry,) = registry.history()
    assert entry.path.read_bytes() == new


def test_history_is_pruned_and_ids_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(registry_module, "HISTORY_LIMIT", 2)
    registry = ModelRegistry(tmp_path)
    for month in range(1, 6):
        registry.activate(constant_bundle("Ann", when=f"2026-0{month}-01T10:00:00+00:00"))
    assert len(registry.history()) == 2
    with pytest.raises(ModelError):
        registry.restore("../../etc/passwd")
    with pytest.raises(ModelError):
        registry.restore("20260101-missing")


def test_a_damaged_active_model_is_still_kept(tmp_path: Path):
    registry = ModelRegistry(tmp_path)
    registry.active_path.write_bytes(b"not a model")
    registry.activate(constant_bundle("Ann"))
    (entry,) = registry.history()
    assert entry.problem and entry.path.read_bytes() == b"not a model"
    with pytest.raises(ModelError):
        registry.restore(entry.id)


def test_bundle_bytes_is_a_loadable_model_file(tmp_path: Path):
    path = tmp_path / "m.joblib"
    path.write_bytes(bundle_bytes(constant_bundle("Zed")))
    assert load_bundle(path).classes == ["Ann", "Zed"]


# ---------------------------------------------------------------- curation


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
