"""Tests for celeb.feature_cache: the training set of a dataset's kept crops and its cached features."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import tiny_png

from celeb.dataset import DatasetStore
from celeb.engines import ClassicEngine
from celeb.engines.wavelets import FeatureSettings, face_features
from celeb.images import decode_png, mirrored
from celeb.manifest import KEPT, REJECTED


def test_training_set_shapes(cropped: DatasetStore):
    data, ids = cropped.training_set(cropped.engine("classic"))
    assert data.features.shape == (16, 4096)
    assert data.features.dtype == np.float32
    assert list(data.labels) == ["Ada"] * 8 + ["Bo"] * 8
    assert list(data.is_copy) == [False, True] * 8
    assert all(data.groups[0::2] == data.groups[1::2])  # a mirrored copy belongs to its photo
    assert len(set(data.groups)) == 8
    assert len(ids) == 8
    assert sorted(ids) == sorted(
        c.record.id for n in ("Ada", "Bo") for c in cropped.crops(n, engine="classic")
    )
    plain, plain_ids = cropped.training_set(cropped.engine("classic"), mirror=False)
    assert plain.features.shape == (8, 4096)
    assert not plain.is_copy.any()
    assert plain_ids == ids
    np.testing.assert_array_equal(plain.features, data.features[0::2])


def test_training_rows_are_the_features_of_the_crop_and_its_mirror(cropped: DatasetStore):
    data, ids = cropped.training_set(cropped.engine("classic"))
    image = decode_png(cropped.crop(ids[0]).path)
    np.testing.assert_array_equal(data.features[0], face_features(image))
    np.testing.assert_array_equal(data.features[1], face_features(mirrored(image)))
    assert data.labels[0] == cropped.crop(ids[0]).person
    assert data.groups[0] == cropped.crop(ids[0]).record.photo


def test_training_set_leaves_out_rejected_crops(cropped: DatasetStore):
    rejected = cropped.crops("Bo", engine="classic")[0].record.id
    cropped.set_status([rejected], REJECTED)
    data, ids = cropped.training_set(cropped.engine("classic"))
    assert data.features.shape == (14, 4096)
    assert rejected not in ids
    assert list(data.labels).count("Bo") == 6


def count_feature_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = ClassicEngine.features

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(ClassicEngine, "features", counting)
    return calls


def cached_ids(store: DatasetStore) -> list[set[str]]:
    result = []
    for path in sorted((store.root / ".cache").glob("features-*.npz")):
        with np.load(path) as stored:
            result.append(set(stored["ids"].tolist()))
    return result


def test_feature_cache_is_reused(cropped: DatasetStore, monkeypatch: pytest.MonkeyPatch):
    first, ids = cropped.training_set(cropped.engine("classic"))
    assert cached_ids(cropped) == [set(ids)]
    calls = count_feature_calls(monkeypatch)
    second, _ = cropped.training_set(cropped.engine("classic"))
    assert calls == []
    np.testing.assert_array_equal(first.features, second.features)
    # A new crop costs two feature vectors (the crop and its mirror), no more.
    other = DatasetStore(cropped.root, database=cropped.database)
    other.add_photo("Ada", tiny_png(5, size=100), "noise.png")
    other.find_faces(engine="classic")
    cropped.training_set(cropped.engine("classic"))
    assert calls == []


def test_stale_cache_entries_are_dropped(cropped: DatasetStore, monkeypatch: pytest.MonkeyPatch):
    _, ids = cropped.training_set(cropped.engine("classic"))
    cropped.set_status([ids[0]], REJECTED)
    calls = count_feature_calls(monkeypatch)
    _, kept = cropped.training_set(cropped.engine("classic"))
    assert calls == []
    assert cached_ids(cropped) == [set(ids) - {ids[0]}] == [set(kept)]
    cropped.set_status([ids[0]], KEPT)  # back again: computed anew
    cropped.training_set(cropped.engine("classic"))
    assert len(calls) == 2
    assert cached_ids(cropped) == [set(ids)]


def test_other_feature_settings_get_their_own_cache(cropped: DatasetStore, monkeypatch: pytest.MonkeyPatch):
    cropped.training_set(cropped.engine("classic"))
    calls = count_feature_calls(monkeypatch)
    data, _ = cropped.training_set(ClassicEngine(FeatureSettings(size=16)))
    assert data.features.shape == (16, 1024)
    assert len(calls) == 16
    assert len(cached_ids(cropped)) == 2


def test_damaged_cache_is_recomputed(cropped: DatasetStore, monkeypatch: pytest.MonkeyPatch):
    first, _ = cropped.training_set(cropped.engine("classic"))
    (cache,) = (cropped.root / ".cache").glob("features-*.npz")
    cache.write_bytes(b"garbage")
    calls = count_feature_calls(monkeypatch)
    second, _ = cropped.training_set(cropped.engine("classic"))
    assert len(calls) == 16
    np.testing.assert_array_equal(first.features, second.features)
