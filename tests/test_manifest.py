"""Tests for celeb.manifest: the dataset's records and their file, read and written under a lock."""

from __future__ import annotations

import json
import multiprocessing
import os

import pytest
from test_dataset import store, tiny_png  # noqa: F401 (fixtures)

from celeb.dataset import DatasetStore
from celeb.errors import DatasetError
from celeb.manifest import content_hash


def test_content_hash_is_sha256_hex():
    assert content_hash(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "is unreadable"),
        ('{"version": 2, "people": {}}', "the dataset manifest has version 2; expected 1"),
    ],
)
def test_damaged_manifest_is_a_dataset_error(store: DatasetStore, text: str, message: str):
    store.manifest_path.write_text(text)
    with pytest.raises(DatasetError, match=message):
        store.people()


@pytest.mark.parametrize("text", ["[]", '{"version": 1}'])
def test_manifest_of_the_wrong_shape_is_a_dataset_error(store: DatasetStore, text: str):
    store.manifest_path.write_text(text)
    with pytest.raises(DatasetError):
        store.people()


def _add_people(root: str, prefix: str, count: int, barrier) -> None:
    """Run in another process: add ``count`` people with one photo each."""
    store = DatasetStore(root)
    barrier.wait(timeout=60)
    for index in range(count):
        name = f"{prefix} {index}"
        store.add_person(name)
        report = store.add_photo(name, tiny_png(hash(name) % 2**32), f"{index}.png")
        assert report.added == [f"{index}.png"], report


def test_two_processes_edit_the_same_store(store: DatasetStore):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [
        context.Process(target=_add_people, args=(str(store.root), prefix, 20, barrier)) for prefix in "AB"
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=180)
    assert [worker.exitcode for worker in workers] == [0, 0]
    stored = json.loads(store.manifest_path.read_text(encoding="utf-8"))  # valid JSON
    names = sorted(person["name"] for person in stored["people"].values())
    assert names == sorted(f"{prefix} {i}" for prefix in "AB" for i in range(20))
    assert all(len(person["photos"]) == 1 for person in stored["people"].values())
    assert [p.photos for p in store.people()] == [1] * 40
    assert not [p.name for p in store.root.iterdir() if p.name.endswith(".tmp")]


def test_interrupted_edit_leaves_the_manifest_whole(store: DatasetStore, monkeypatch: pytest.MonkeyPatch):
    store.add_person("Ada")
    before = store.manifest_path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        store.add_person("Bo")
    assert store.manifest_path.read_bytes() == before
    assert not [p.name for p in store.root.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()
    assert [p.name for p in store.people()] == ["Ada"]
    store.add_person("Bo")  # the lock was released
    assert [p.name for p in store.people()] == ["Ada", "Bo"]
