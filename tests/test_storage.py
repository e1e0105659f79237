"""Atomic writes, and the temporary files an interrupted one leaves behind."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

import celeb.storage as storage_module
from celeb import storage
from celeb.config import STALE_TEMPORARY_SECONDS
from celeb.dataset import DatasetStore
from celeb.registry import ModelRegistry
from celeb.storage import write_atomic


@pytest.fixture
def restart(monkeypatch: pytest.MonkeyPatch):
    """Forget which folders this process has cleaned, as a new process would."""

    def forget() -> None:
        monkeypatch.setattr(storage, "_cleaned", set())

    return forget


def left_over(folder: Path, target: str, age: float) -> Path:
    """A temporary file as write_atomic names it, last written ``age`` seconds ago."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".{target}.{int(age)}_k3j9x.tmp"
    path.write_bytes(b"half a file")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_write_atomic_leaves_only_the_file(tmp_path: Path):
    storage.write_atomic(tmp_path / "a" / "file.bin", b"data")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["file.bin"]


def test_left_over_temporaries_are_removed_when_the_dataset_is_next_opened(tmp_path: Path, restart):
    root = tmp_path / "dataset"
    person_folder = root / DatasetStore(root).add_person("Ann").slug
    stale = [
        left_over(root, "manifest.json", STALE_TEMPORARY_SECONDS + 60),
        left_over(person_folder / "photos", "ann-1.jpg", 3 * 86400),
    ]
    in_progress = left_over(root, "manifest.json", 5)  # another process's write, still running
    other = root / "notes.tmp"  # not one of ours: no leading dot
    other.write_bytes(b"")
    os.utime(other, (0, 0))

    restart()
    DatasetStore(root, read_only=True)  # a visitor's session changes nothing on disk
    assert all(path.exists() for path in stale)

    DatasetStore(root)
    assert not any(path.exists() for path in stale)
    assert in_progress.exists() and other.exists()
    assert [p.name for p in DatasetStore(root).people()] == ["Ann"]


def test_left_over_temporaries_are_removed_when_the_models_folder_is_next_opened(tmp_path: Path, restart):
    root = tmp_path / "models"
    stale = [
        left_over(root, "model.joblib", STALE_TEMPORARY_SECONDS + 60),
        left_over(root / "history", "20250101-abc.joblib", STALE_TEMPORARY_SECONDS + 60),
    ]
    restart()
    ModelRegistry(root, read_only=True)
    assert all(path.exists() for path in stale)
    ModelRegistry(root)
    assert not any(path.exists() for path in stale)


def test_a_folder_is_cleaned_once_per_process(tmp_path: Path, restart):
    # The app opens the dataset on every page run; walking it every time would cost the owner.
    restart()
    DatasetStore(tmp_path)
    stale = left_over(tmp_path, "manifest.json", STALE_TEMPORARY_SECONDS + 60)
    DatasetStore(tmp_path)
    assert stale.exists()
    restart()
    DatasetStore(tmp_path)
    assert not stale.exists()


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_write_atomic_keeps_the_old_file_when_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
):
    path = tmp_path / "data.bin"
    write_atomic(path, b"old")

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(storage_module.os, "replace", fail)
    with pytest.raises(type(error)):
        write_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin"]


def test_write_atomic_creates_folders_and_replaces(tmp_path: Path):
    path = tmp_path / "a" / "b" / "data.bin"
    write_atomic(path, b"one")
    write_atomic(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in path.parent.iterdir()] == ["data.bin"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600
