"""Read-only folders: a visitor's DatasetStore and ModelRegistry refuse every change and write nothing."""

from __future__ import annotations

import io
import zipfile

import pytest

from celeb.dataset import DatasetStore
from celeb.errors import ReadOnlyError
from celeb.manifest import REJECTED
from celeb.registry import ModelRegistry


@pytest.fixture
def store_with_a_crop(tmp_path, make_photo) -> DatasetStore:
    """Ann with one crop of the classic engine, whose features are computed at training, not cropping."""
    store = DatasetStore(tmp_path / "dataset")
    store.add_person("Ann")
    store.add_photo("Ann", make_photo("red", 1), "ann.jpg")
    store.find_faces(engine="classic")
    assert store.crops("Ann", engine="classic")
    return store


def test_a_read_only_store_refuses_every_change_and_writes_nothing(store_with_a_crop, make_photo):
    root = store_with_a_crop.root
    before = {path: path.stat().st_mtime_ns for path in root.rglob("*")}
    manifest = (root / "manifest.json").read_bytes()
    crop_id = store_with_a_crop.crops("Ann", engine="classic")[0].record.id
    visitor = DatasetStore(root, read_only=True)
    changes = [
        lambda: visitor.add_person("Bob"),
        lambda: visitor.rename_person("Ann", "Anna"),
        lambda: visitor.delete_person("Ann"),
        lambda: visitor.add_photo("Ann", make_photo("red", 2), "more.jpg"),
        lambda: visitor.add_zip("Ann", b"PK\x05\x06" + bytes(18)),
        lambda: visitor.find_faces(engine="classic"),
        lambda: visitor.set_status([crop_id], REJECTED),
    ]
    for change in changes:
        with pytest.raises(ReadOnlyError, match="only its owner can change it"):
            change()
    assert (root / "manifest.json").read_bytes() == manifest
    assert {path: path.stat().st_mtime_ns for path in root.rglob("*")} == before
    # Reading, exporting and computing training features still work.
    assert [p.name for p in visitor.people()] == ["Ann"]
    with zipfile.ZipFile(io.BytesIO(visitor.export_zip())) as exported:
        names = set(exported.namelist())
        assert exported.read("manifest.json") == manifest
    (ann,) = visitor.records().values()
    assert names == {
        "manifest.json",
        *(p.stored for p in ann.photos.values()),
        f"{ann.slug}/crops/{crop_id}.png",
    }
    data, ids = visitor.training_set(visitor.engine("classic"))
    assert ids == [crop_id] and len(data.features) == 2  # the crop and its mirrored copy


def test_a_read_only_store_does_not_create_its_folder(tmp_path):
    visitor = DatasetStore(tmp_path / "nowhere", read_only=True)
    assert visitor.people() == []
    assert not (tmp_path / "nowhere").exists()


def test_a_read_only_registry_refuses_every_change(tmp_path):
    from app_helpers import tiny_bundle

    owner = ModelRegistry(tmp_path / "models")
    owner.activate(tiny_bundle(seed=1))
    owner.activate(tiny_bundle(seed=2))
    earlier = owner.history()[0].id
    active = owner.active_path.read_bytes()
    visitor = ModelRegistry(tmp_path / "models", read_only=True)
    for change in (
        lambda: visitor.activate(tiny_bundle(seed=3)),
        lambda: visitor.restore(earlier),
        lambda: visitor.delete(earlier),
    ):
        with pytest.raises(ReadOnlyError, match="only its owner"):
            change()
    assert owner.active_path.read_bytes() == active
    assert [info.id for info in owner.history()] == [earlier]
    assert visitor.load_active().classes == ["Ann", "Bob"]
