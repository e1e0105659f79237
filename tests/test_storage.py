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


# ---------------------------------------------------------------- appending to a journal


def file_id(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_dev, info.st_ino


def test_append_synced_cuts_a_torn_tail_first(tmp_path: Path):
    path = tmp_path / "log"
    path.write_bytes(b"one\ntw")  # "tw": what a writer killed mid-append left
    info = storage.append_synced(path, b"two\n", at=4, file_id=file_id(path))
    assert path.read_bytes() == b"one\ntwo\n"
    assert info.st_size == 8


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_append_synced_takes_back_a_failed_append(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error):
    path = tmp_path / "log"
    path.write_bytes(b"one\n")

    def fail(descriptor: int) -> None:
        raise error

    monkeypatch.setattr(storage_module.os, "fsync", fail)
    with pytest.raises(type(error)):
        storage.append_synced(path, b"two\n", at=4, file_id=file_id(path))
    assert path.read_bytes() == b"one\n"


def test_append_synced_refuses_a_file_replaced_meanwhile(tmp_path: Path):
    path = tmp_path / "log"
    path.write_bytes(b"one\n")
    before = file_id(path)
    write_atomic(path, b"another file\n")
    with pytest.raises(OSError, match="replaced"):
        storage.append_synced(path, b"two\n", at=4, file_id=before)
    assert path.read_bytes() == b"another file\n"  # never cut


def test_read_regular_file_and_stat_from_an_offset(tmp_path: Path):
    path = tmp_path / "log"
    path.write_bytes(b"0123456789")
    data, info = storage.read_regular_file_and_stat(path, 10, offset=4)
    assert data == b"456789" and (info.st_ino, info.st_size) == (path.stat().st_ino, 10)
    with pytest.raises(storage.FileTooLargeError):
        storage.read_regular_file_and_stat(path, 9, offset=4)  # the limit counts the whole file
