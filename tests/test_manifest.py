"""Tests for celeb.manifest: the dataset's records and their files (manifest.json and its journal,
manifest.log), read and written under a lock."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import tiny_png

from celeb import manifest
from celeb.dataset import DatasetStore
from celeb.errors import DatasetError, ManifestError
from celeb.manifest import KEPT, REJECTED, content_hash


@pytest.fixture
def store(tmp_path: Path) -> DatasetStore:
    """A folder store: these tests are about its files (manifest.json and its journal)."""
    return DatasetStore(tmp_path / "dataset")


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


# ---------------------------------------------------------------- the journal (issue 20, 22)


@pytest.fixture
def journal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every change after the first goes to the journal, and the journal is never folded in."""
    monkeypatch.setattr(manifest, "REWRITE_BELOW_BYTES", 0)
    monkeypatch.setattr(manifest, "COMPACT_SHARE", 10**6)


def from_the_files(root: Path) -> dict:
    """The records as a process that has read nothing yet reads them."""
    manifest._cache.clear()
    return DatasetStore(root, read_only=True).records()


def journal_lines(store: DatasetStore) -> list[dict]:
    """The journal's changes (its header left out)."""
    lines = (store.root / "manifest.log").read_bytes().split(b"\n")
    assert lines[-1] == b""
    return [json.loads(line) for line in lines[1:-1]]


def test_the_journal_round_trips_every_kind_of_change(store: DatasetStore, journal, make_photo):
    store.add_person("Ada")
    snapshot = store.manifest_path.read_bytes()  # the first change: no journal yet
    steps = [
        lambda: store.add_person("Bo"),
        lambda: store.add_photo("Ada", make_photo("red", 0), "a0.jpg"),
        lambda: store.add_photo("Ada", make_photo("red", 1), "a1.jpg"),
        lambda: store.add_photo("Bo", make_photo("blue", 2), "b0.jpg"),
        lambda: store.find_faces(engine="classic", workers=1),
        lambda: store.set_status([store.crops("Ada", engine="classic")[0].record.id], REJECTED),
        lambda: store.rename_person("Ada", "Ada Lovelace"),
        lambda: store.delete_person("Bo"),
    ]
    for step in steps:
        step()
        assert from_the_files(store.root) == store.records()
    assert store.manifest_path.read_bytes() == snapshot  # all of it came from the journal
    ops = {op[0] for line in journal_lines(store) for op in line["ops"]}
    assert ops == {"person", "photo", "crop", "name", "-person"}
    assert [line["seq"] for line in journal_lines(store)] == list(range(1, len(journal_lines(store)) + 1))
    (ada,) = from_the_files(store.root).values()
    assert ada.name == "Ada Lovelace" and len(ada.photos) == 2
    assert sorted(crop.status for crop in ada.crops.values()) == [KEPT, REJECTED]
    assert all(photo.searched == ["classic"] for photo in ada.photos.values())


def test_a_torn_last_line_is_ignored_and_cut_by_the_next_change(store: DatasetStore, journal):
    store.add_person("Ada")
    for seed in range(2):
        store.add_photo("Ada", tiny_png(seed), f"{seed}.png")
    before = from_the_files(store.root)
    whole = (store.root / "manifest.log").read_bytes()
    for torn in (b'{"seq":3,"ops":[["photo","ada","', b'{"seq":3,"ops":[["pho\0\0\0\0\n'):
        (store.root / "manifest.log").write_bytes(whole + torn)  # a writer killed mid-write
        assert from_the_files(store.root) == before
    store.add_photo("Ada", tiny_png(2), "2.png")
    after = (store.root / "manifest.log").read_bytes()
    assert after.startswith(whole) and torn not in after and after.endswith(b"\n")
    assert [line["seq"] for line in journal_lines(store)] == [1, 2, 3]
    assert len(from_the_files(store.root)["ada"].photos) == 3


def test_a_damaged_line_before_the_last_is_an_error(store: DatasetStore, journal):
    store.add_person("Ada")
    store.add_photo("Ada", tiny_png(0), "0.png")
    store.add_photo("Ada", tiny_png(1), "1.png")
    log = store.root / "manifest.log"
    header, first, second, _ = log.read_bytes().split(b"\n")
    log.write_bytes(b"\n".join([header, first[:-5] + b"xx", second, b""]))
    with pytest.raises(ManifestError, match="is damaged at change 1"):
        from_the_files(store.root)


def test_journal_records_are_checked_like_the_manifest(store: DatasetStore, journal):
    store.add_person("Ada")
    store.add_photo("Ada", tiny_png(0), "0.png")
    (line,) = journal_lines(store)
    (tag, slug, sha, record) = line["ops"][0]
    crafted = {"seq": 2, "ops": [[tag, slug, sha, {**record, "stored": "../victim/x.png"}]]}
    with (store.root / "manifest.log").open("a") as log:
        log.write(json.dumps(crafted) + "\n")
    message = "photo path of 'Ada' '../victim/x.png' leads outside the dataset folder"
    with pytest.raises(ManifestError, match=re.escape(message)):
        from_the_files(store.root)
    with pytest.raises(ManifestError, match=re.escape(message)):
        store.add_person("Bo")  # a writer refuses it too, and changes nothing
    assert "Bo" not in (store.root / "manifest.log").read_text()


def test_a_journal_over_the_size_limit_is_refused(store: DatasetStore, journal, monkeypatch):
    store.add_person("Ada")
    store.add_photo("Ada", tiny_png(0), "0.png")
    monkeypatch.setattr(manifest, "MAX_MANIFEST_BYTES", (store.root / "manifest.log").stat().st_size - 1)
    with pytest.raises(ManifestError, match="over the limit"):
        from_the_files(store.root)


def test_the_journal_is_folded_into_a_new_snapshot_with_nothing_lost(store: DatasetStore, monkeypatch):
    monkeypatch.setattr(manifest, "REWRITE_BELOW_BYTES", 0)
    monkeypatch.setattr(manifest, "COMPACT_SHARE", 1)  # a journal as large as the snapshot is folded in
    store.add_person("Ada")
    snapshots, journal_seen = {store.manifest_path.read_bytes()}, False
    for seed in range(40):
        store.add_photo("Ada", tiny_png(seed), f"{seed}.png")
        snapshots.add(store.manifest_path.read_bytes())
        journal_seen |= (store.root / "manifest.log").exists()
        assert from_the_files(store.root) == store.records()
    assert journal_seen and len(snapshots) >= 3  # the journal was used, and folded in more than once
    assert sorted(p.filename for p in from_the_files(store.root)["ada"].photos.values()) == sorted(
        f"{seed}.png" for seed in range(40)
    )
    if (store.root / "manifest.log").exists():
        assert journal_lines(store)  # what the last snapshot does not hold yet


def test_a_crash_between_a_new_snapshot_and_removing_the_journal_applies_nothing_twice(
    store: DatasetStore, journal, monkeypatch
):
    store.add_person("Ann")
    store.add_person("Bo")
    store.add_photo("Ann", tiny_png(0), "0.png")  # journal: add Bo (whole, with no photo), a photo of Ann
    store.add_photo("Bo", tiny_png(1), "1.png")
    old_journal = (store.root / "manifest.log").read_bytes()
    monkeypatch.setattr(manifest, "COMPACT_SHARE", 0)  # the next change writes a snapshot
    store.delete_person("Ann")
    assert not (store.root / "manifest.log").exists()
    expected = from_the_files(store.root)
    assert [(p.name, len(p.photos)) for p in expected.values()] == [("Bo", 1)]
    # As if the process died after renaming the new snapshot into place, before removing the journal:
    (store.root / "manifest.log").write_bytes(old_journal)
    assert from_the_files(store.root) == expected  # replayed, Bo would lose his photo and Ann return
    monkeypatch.setattr(manifest, "COMPACT_SHARE", 10**6)
    store.add_photo("Bo", tiny_png(2), "2.png")  # the stale journal is replaced, not continued
    assert [line["seq"] for line in journal_lines(store)] == [1]
    assert len(from_the_files(store.root)["bo"].photos) == 2


def test_a_manifest_written_by_an_older_version_makes_the_journal_stale(store: DatasetStore, journal):
    store.add_person("Ada")
    store.add_person("Bo")  # in the journal only
    older = json.loads(store.manifest_path.read_text(encoding="utf-8"))
    older["people"]["ada"]["name"] = "Ada Lovelace"  # an older version changed it, journal unseen
    store.manifest_path.write_text(json.dumps(older), encoding="utf-8")
    assert [p.name for p in from_the_files(store.root).values()] == ["Ada Lovelace"]


def test_unchanged_files_are_not_parsed_again(store: DatasetStore, journal, monkeypatch):
    store.add_person("Ada")
    store.add_photo("Ada", tiny_png(0), "0.png")
    from_the_files(store.root)
    parsed = []
    parse = manifest._parse_manifest
    monkeypatch.setattr(manifest, "_parse_manifest", lambda *a: parsed.append(1) or parse(*a))
    for _ in range(3):
        assert len(store.records()["ada"].photos) == 1
    # Another process adds a photo: its journal line is read on its own, the snapshot not again.
    code = (
        "import sys; sys.path.insert(0, 'tests'); import celeb.manifest as m; m.REWRITE_BELOW_BYTES = 0;"
        "m.COMPACT_SHARE = 10**6; from celeb.dataset import DatasetStore; from helpers import tiny_png;"
        f"DatasetStore({str(store.root)!r}).add_photo('Ada', tiny_png(1), '1.png')"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)
    assert len(store.records()["ada"].photos) == 2
    assert parsed == []


def _add_photos(root: str, name: str, seeds: range, barrier) -> None:
    """Run in another process: add a photo of ``name`` for each seed, journal folded in often."""
    manifest.REWRITE_BELOW_BYTES, manifest.COMPACT_SHARE = 0, 1
    store = DatasetStore(root)
    barrier.wait(timeout=60)
    for seed in seeds:
        report = store.add_photo(name, tiny_png(seed), f"{seed}.png")
        assert report.added == [f"{seed}.png"], report


def _watch(root: str, barrier, seen) -> None:
    """Run in another process: read the records over and over; every count of photos seen, in order."""
    store = DatasetStore(root, read_only=True)
    barrier.wait(timeout=60)
    for _ in range(400):
        seen.append(sum(len(p.photos) for p in store.records().values()))


def test_two_processes_adding_photos_through_the_journal_lose_nothing(store: DatasetStore, journal):
    store.add_person("Ada")
    store.add_photo("Ada", tiny_png(999), "999.png")
    context = multiprocessing.get_context("spawn")
    barrier, seen = context.Barrier(3), context.Manager().list()
    seeds = [range(0, 30), range(100, 130)]
    workers = [context.Process(target=_add_photos, args=(str(store.root), "Ada", s, barrier)) for s in seeds]
    workers.append(context.Process(target=_watch, args=(str(store.root), barrier, seen)))
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=180)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    photos = from_the_files(store.root)["ada"].photos.values()
    assert sorted(p.filename for p in photos) == sorted(f"{seed}.png" for seed in [999, *seeds[0], *seeds[1]])
    assert list(seen) == sorted(seen) and seen[0] >= 1  # a reader never saw a photo disappear
    assert not [p.name for p in store.root.rglob("*.tmp")]
