"""Tests for celeb.archive: photos in bulk from files, folders and zips (hostile entries refused),
a zip or uploaded folder of people folders, and the dataset exported as a zip.

Photos are tiny random PNGs where no face is needed.
"""

from __future__ import annotations

import io
import json
import stat
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import SLASH_MESSAGE, all_files, image_error, manifest
from PIL import Image

import celeb.archive as archive_module
import celeb.dataset as dataset_module
import celeb.manifest as manifest_module
from celeb.archive import AddReport, people_in_paths, preview_paths, preview_zip_people
from celeb.dataset import DatasetStore
from celeb.errors import DatasetError
from celeb.manifest import KEPT, REJECTED


def tiny_png(seed: int, size: int = 16) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def people_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


#: Five people as a user zips them: one top folder, a folder per person, macOS noise.
FIVE = {
    "celebs/lionel_messi/1.jpg": tiny_png(1),
    "celebs/lionel_messi/2.png": tiny_png(2),
    "celebs/maria_sharapova/1.png": tiny_png(3),
    "celebs/roger_federer/a.png": tiny_png(4),
    "celebs/serena_williams/x/b.png": tiny_png(5),  # deeper: still Serena's
    "celebs/Virat Kohli/v.png": tiny_png(6),
    "celebs/virat_kohli/w.png": tiny_png(7),  # the same person, named otherwise
    "celebs/readme.txt": b"hello",
    "celebs/roger_federer/notes.txt": b"hello",
    "__MACOSX/celebs/._x.png": b"\0",
    "celebs/cover.png": tiny_png(8),  # in no person's folder
}


@pytest.fixture
def store(tmp_path: Path) -> DatasetStore:
    return DatasetStore(tmp_path / "dataset")


def test_people_in_paths_reads_folder_names_as_people():
    groups, outside = people_in_paths(["p/ann_lee/1.jpg", "p/bob/2.jpg", "p/Ann Lee/3.jpg", "p/x.jpg"])
    assert groups == {"Ann Lee": [0, 2], "bob": [1]}
    assert outside == [("p/x.jpg", "not in a folder named after a person")]
    groups, outside = people_in_paths(["one/only/photo.jpg"])  # one person zipped with a top folder
    assert groups == {"only": [0]} and not outside
    assert people_in_paths([]) == ({}, [])


def test_preview_of_a_zip_of_people_reads_no_photo(monkeypatch: pytest.MonkeyPatch):
    def no_reading(*args, **kwargs):
        raise AssertionError("the preview extracted a file")

    zipped = people_zip(FIVE)
    monkeypatch.setattr(zipfile.ZipFile, "read", no_reading)
    monkeypatch.setattr(zipfile.ZipFile, "open", no_reading)
    assert preview_zip_people(zipped) == {
        "Lionel Messi": 2,
        "Maria Sharapova": 1,
        "Roger Federer": 1,
        "Serena Williams": 1,
        "Virat Kohli": 2,
    }


def test_preview_of_a_folder_upload_counts_photos_per_person():
    names = ["all/ann/1.jpg", "all/ann/2.jpg", "all/bo_li/3.png", "all/.hidden/4.png", "all/ann/n.txt"]
    assert preview_paths(names) == {"ann": 2, "Bo Li": 1}
    assert preview_paths(["1.jpg", "2.jpg"]) == {}  # a dropped folder without its sub-folders' names


def test_preview_refuses_what_the_import_refuses(monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(DatasetError, match="not a readable zip"):
        preview_zip_people(b"not a zip")
    monkeypatch.setattr(archive_module, "MAX_ZIP_MEMBERS", 2)
    with pytest.raises(DatasetError, match="at most 2 are accepted"):
        preview_zip_people(people_zip({f"a/{i}.png": tiny_png(i) for i in range(3)}))


def test_import_a_zip_of_people_folders(store: DatasetStore):
    store.add_person("Roger FEDERER")  # already there: gets his folder's photos
    reports = store.import_zip_folders(people_zip(FIVE))
    assert {p.name: p.photos for p in store.people()} == {
        "Lionel Messi": 2,
        "Maria Sharapova": 1,
        "Roger FEDERER": 1,
        "Serena Williams": 1,
        "Virat Kohli": 2,
    }
    assert sorted(reports[""].skipped) == [
        ("__MACOSX/celebs/._x.png", "hidden or system file"),
        ("celebs/cover.png", "not in a folder named after a person"),
        ("celebs/readme.txt", "not an image file (by its name)"),
        ("celebs/roger_federer/notes.txt", "not an image file (by its name)"),
    ]
    assert reports["Lionel Messi"].added == ["1.jpg", "2.png"]
    assert reports["Roger FEDERER"].added == ["a.png"]
    # Again: nothing new, every photo said to be there already.
    again = store.import_zip_folders(people_zip(FIVE))
    assert not any(report.added for report in again.values())
    assert again["Virat Kohli"].skipped == [
        ("v.png", "the same photo is already added"),
        ("w.png", "the same photo is already added"),
    ]


def test_import_a_zip_of_people_refuses_hostile_entries(store: DatasetStore, tmp_path: Path):
    reports = store.import_zip_folders(
        people_zip({"../evil/1.png": tiny_png(1), "ann/../../up.png": tiny_png(2), "ann/ok.png": tiny_png(3)})
    )
    assert [p.name for p in store.people()] == ["ann"]
    assert reports["ann"].added == ["ok.png"]
    assert {why for _, why in reports[""].skipped} == {"its path leads outside the folder"}
    assert not (tmp_path / "evil").exists() and not (tmp_path / "up.png").exists()


def test_import_uploaded_folder_files_by_their_paths(store: DatasetStore):
    files = [
        ("people/ann_lee/1.png", tiny_png(1)),
        ("people/bo/2.png", tiny_png(2)),
        ("people/bo/3.png", b"not a photo"),
        ("people/top.png", tiny_png(4)),
    ]
    reports = store.import_named_files(files)
    assert {p.name: p.photos for p in store.people()} == {"Ann Lee": 1, "bo": 1}
    assert reports[""].skipped == [("people/top.png", "not in a folder named after a person")]
    assert [file for file, _ in reports["bo"].skipped] == ["3.png"]


def test_a_read_only_store_refuses_people_imports(store: DatasetStore):
    from celeb.errors import ReadOnlyError

    store.add_person("Ann")
    manifest = store.manifest_path.read_bytes()
    visitor = DatasetStore(store.root, read_only=True)
    with pytest.raises(ReadOnlyError):
        visitor.import_zip_folders(people_zip({"bob/1.png": tiny_png(1)}))
    with pytest.raises(ReadOnlyError):
        visitor.import_named_files([("all/bob/1.png", tiny_png(1))])
    assert store.manifest_path.read_bytes() == manifest


# ---------------------------------------------------------------- files, zips and folders


def test_add_files_skips_hidden_files_and_folders(store: DatasetStore, tmp_path: Path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.png").write_bytes(tiny_png(1))
    (folder / ".hidden.png").write_bytes(tiny_png(2))
    (folder / "sub" / "b.png").write_bytes(tiny_png(3))
    (folder / "notes.txt").write_text("hello")
    store.add_person("Ada")
    report = store.add_files("Ada", sorted(folder.iterdir()))
    assert report.added == ["a.png"]
    assert report.skipped == [("notes.txt", image_error(b"hello"))]


def test_add_report_merge():
    report = AddReport(added=["a"], skipped=[("b", "why")])
    merged = report.merge(AddReport(added=["c"], skipped=[("d", "because")]))
    assert merged is report
    assert report == AddReport(added=["a", "c"], skipped=[("b", "why"), ("d", "because")])
    assert report.summary() == "2 added, 2 skipped"


def set_encrypted(data: bytes, name: str) -> bytes:
    """Set the 'encrypted' flag of one entry, in its local and central headers."""
    raw = bytearray(data)
    encoded = name.encode()
    # (header signature, offset of the name's length, of the name, of the flags) per header kind.
    for signature, length_at, name_at, flags_at in ((b"PK\x03\x04", 26, 30, 6), (b"PK\x01\x02", 28, 46, 8)):
        position = raw.find(signature)
        while position != -1:
            length = struct.unpack_from("<H", raw, position + length_at)[0]
            if bytes(raw[position + name_at : position + name_at + length]) == encoded:
                raw[position + flags_at] |= 0x1
            position = raw.find(signature, position + 4)
    return bytes(raw)


def hostile_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("good.png", tiny_png(1))
        archive.writestr("nested/dir/", b"")
        archive.writestr("nested/dir/ok.png", tiny_png(2))
        archive.writestr("../evil.png", tiny_png(3))
        archive.writestr("/abs.png", tiny_png(4))
        archive.writestr("C:\\x.png", tiny_png(5))
        archive.writestr("a/../../up.png", tiny_png(6))
        link = zipfile.ZipInfo("link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr("notes.txt", b"hello")
        archive.writestr("__MACOSX/._x.png", tiny_png(7))
        archive.writestr(".DS_Store", b"\x00\x00")
        archive.writestr("secret.png", tiny_png(8))
        archive.writestr("broken.png", b"not a png")
        archive.writestr("copy of good.png", tiny_png(1))
        archive.writestr("Zoë.png", tiny_png(9))
    return set_encrypted(buffer.getvalue(), "secret.png")


def test_add_zip_refuses_hostile_entries(store: DatasetStore, tmp_path: Path):
    store.add_person("Ada")
    before = all_files(tmp_path) - all_files(store.root)
    report = store.add_zip("Ada", hostile_zip())
    assert report.added == ["good.png", "ok.png", "Zoë.png"]
    outside = "its path leads outside the folder"
    assert report.skipped == [
        ("../evil.png", outside),
        ("/abs.png", outside),
        ("C:\\x.png", outside),
        ("a/../../up.png", outside),
        ("link.png", "it is a symbolic link"),
        ("notes.txt", "not an image file (by its name)"),
        ("__MACOSX/._x.png", "hidden or system file"),
        (".DS_Store", "hidden or system file"),
        ("secret.png", "it is encrypted"),
        ("broken.png", image_error(b"not a png")),
        ("copy of good.png", "the same photo is already added"),
    ]
    # Nothing was written outside the dataset folder, nor anywhere but the person's photos.
    assert all_files(tmp_path) - all_files(store.root) == before
    assert not Path("/abs.png").exists()
    photos = {p for p in all_files(store.root) if p.parent.name == "photos"}
    assert {p.parent for p in photos} == {store.root / "ada" / "photos"}
    assert {p.read_bytes() for p in photos} == {tiny_png(1), tiny_png(2), tiny_png(9)}
    assert not any(p.is_symlink() for p in all_files(store.root))
    assert store.people()[0].photos == 3


def test_add_zip_from_a_path(store: DatasetStore, tmp_path: Path):
    path = tmp_path / "photos.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("one.png", tiny_png(1))
    store.add_person("Ada")
    assert store.add_zip("Ada", path) == AddReport(added=["one.png"], skipped=[])


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04 not really a zip", tiny_png(1)])
def test_add_zip_of_a_non_zip(store: DatasetStore, data: bytes):
    store.add_person("Ada")
    with pytest.raises(DatasetError) as info:
        store.add_zip("Ada", data)
    assert str(info.value).startswith("this is not a readable zip file (")
    assert store.people()[0].photos == 0


def test_add_zip_with_too_many_files(store: DatasetStore, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(archive_module, "MAX_ZIP_MEMBERS", 2)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for seed in range(3):
            archive.writestr(f"{seed}.png", tiny_png(seed))
    store.add_person("Ada")
    with pytest.raises(DatasetError) as info:
        store.add_zip("Ada", buffer.getvalue())
    assert str(info.value) == "the zip holds 3 files; at most 2 are accepted"
    assert store.people()[0].photos == 0


def test_add_zip_that_expands_too_much(store: DatasetStore, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(archive_module, "MAX_ZIP_BYTES", 100)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.png", b"\x00" * 1000)
    store.add_person("Ada")
    with pytest.raises(DatasetError) as info:
        store.add_zip("Ada", buffer.getvalue())
    assert str(info.value) == "the zip expands to more than 2 GB; split it into smaller zips"


def test_import_folders(store: DatasetStore, tmp_path: Path):
    root = tmp_path / "import"
    for name, seeds in (("Ada", [1, 2]), ("Bo", [3]), (".hidden", [4]), ("back\\slash", [5])):
        (root / name).mkdir(parents=True)
        for seed in seeds:
            (root / name / f"{seed}.png").write_bytes(tiny_png(seed))
    (root / "Bo" / "notes.txt").write_text("hello")
    (root / "top-level.png").write_bytes(tiny_png(6))
    report = store.import_folders(root)
    assert sorted(report.added) == ["1.png", "2.png", "3.png"]
    assert report.skipped == [  # folders in sorted order: "Ada", "Bo", "back\\slash"
        ("notes.txt", image_error(b"hello")),
        ("back\\slash", SLASH_MESSAGE),
    ]
    assert [(p.name, p.photos) for p in store.people()] == [("Ada", 2), ("Bo", 1)]
    # A second import adds only what is new, to the people already there.
    (root / "Ada" / "7.png").write_bytes(tiny_png(7))
    again = store.import_folders(root)
    assert again.added == ["7.png"]
    assert ("1.png", "the same photo is already added") in again.skipped
    assert [(p.name, p.photos) for p in store.people()] == [("Ada", 3), ("Bo", 1)]


def test_import_folders_adds_to_a_person_named_with_other_case(store: DatasetStore, tmp_path: Path):
    store.add_person("Ada")
    (tmp_path / "import" / "ada").mkdir(parents=True)
    (tmp_path / "import" / "ada" / "1.png").write_bytes(tiny_png(1))
    report = store.import_folders(tmp_path / "import")
    assert report.added == ["1.png"]
    assert [(p.name, p.photos) for p in store.people()] == [("Ada", 1)]


def test_import_folders_of_a_file(store: DatasetStore, tmp_path: Path):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DatasetError) as info:
        store.import_folders(tmp_path / "file.txt")
    assert str(info.value) == f"{tmp_path / 'file.txt'} is not a folder"


def test_export_zip_holds_the_manifest_photos_and_kept_crops(cropped: DatasetStore):
    rejected = cropped.crops("Bo", engine="classic")[1]
    cropped.set_status([rejected.record.id], REJECTED)
    assert rejected.path.exists()  # the file stays, so the crop can be restored
    with zipfile.ZipFile(io.BytesIO(cropped.export_zip())) as archive:
        names = archive.namelist()
        assert json.loads(archive.read("manifest.json")) == manifest(cropped)
        crops = sorted(name for name in names if "/crops/" in name)
        expected = sorted(
            c.path.relative_to(cropped.root).as_posix()
            for n in ("Ada", "Bo")
            for c in cropped.crops(n, KEPT, engine="classic")
        )
        assert crops == expected
        assert len(crops) == 7
        assert rejected.path.relative_to(cropped.root).as_posix() not in names
        photos = [name for name in names if "/photos/" in name]
        assert len(photos) == 8
        assert archive.read(photos[0]) == (cropped.root / photos[0]).read_bytes()
        assert len(names) == 1 + 8 + 7
        assert all(not name.startswith("/") and ".." not in name.split("/") for name in names)
        assert not any(name.startswith(".") for name in names)  # no lock, no cache


# ---------------------------------------------------------------- imports record photos in groups


@pytest.fixture
def in_groups_of_two(monkeypatch: pytest.MonkeyPatch) -> None:
    """Changes go to the journal (see test_manifest), and an import records two photos per change."""
    monkeypatch.setattr(manifest_module, "REWRITE_BELOW_BYTES", 0)
    monkeypatch.setattr(manifest_module, "COMPACT_SHARE", 10**6)
    monkeypatch.setattr(dataset_module, "ADD_BATCH_PHOTOS", 2)


def journal_changes(store: DatasetStore) -> list[list]:
    """The operations of each change in the journal."""
    lines = (store.root / "manifest.log").read_bytes().split(b"\n")[1:-1]
    return [[op[0] for op in json.loads(line)["ops"]] for line in lines]


def test_an_import_records_its_photos_in_groups(store: DatasetStore, tmp_path: Path, in_groups_of_two):
    store.add_person("Zed")
    for seed in range(5):
        (tmp_path / "in" / "Ann").mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / "Ann" / f"{seed}.png").write_bytes(tiny_png(seed))
    (tmp_path / "in" / "Ann" / "5 again.png").write_bytes(tiny_png(4))
    report = store.import_folders(tmp_path / "in")
    assert report.added == [f"{seed}.png" for seed in range(5)]
    assert report.skipped == [("5 again.png", "the same photo is already added")]
    # Ann added, then her photos two by two (the last group: a photo and its duplicate).
    assert journal_changes(store) == [["person"], ["photo", "photo"], ["photo", "photo"], ["photo"]]


def test_an_interrupted_import_keeps_the_groups_recorded_and_no_half_written_file(
    store: DatasetStore, in_groups_of_two
):
    files = [(f"people/ann/{seed}.png", tiny_png(seed)) for seed in range(5)]

    def interrupt(done: int, total: int) -> None:
        if done == 3:  # the third photo's file is staged, its group not recorded
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.import_named_files(files, progress=interrupt)
    (ann,) = DatasetStore(store.root, read_only=True).records().values()
    assert sorted(photo.filename for photo in ann.photos.values()) == ["0.png", "1.png"]
    on_disk = {path.relative_to(store.root).as_posix() for path in (store.root / "ann").rglob("*")}
    assert on_disk == {"ann/photos", *(photo.stored for photo in ann.photos.values())}
