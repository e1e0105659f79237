"""Tests for celeb.dataset (DatasetStore and its helpers) and celeb.storage.

Photos are generated: tiny random PNGs where no face is needed, tinted copies
of scikit-image's astronaut where find_faces must find one.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import shutil
import stat
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import celeb.dataset as dataset_module
import celeb.storage as storage_module
from celeb.dataset import (
    KEPT,
    MAX_NAME_LENGTH,
    REJECTED,
    AddReport,
    CropReport,
    DatasetStore,
    PersonSummary,
    content_hash,
    decode_png,
    slugify,
    validate_name,
)
from celeb.engines import ClassicEngine
from celeb.errors import DatasetError, ImageError, InvalidNameError
from celeb.features import FeatureSettings, face_features, mirrored
from celeb.images import read_image
from celeb.storage import write_atomic

HOSTILE_NAME = "<img src=x onerror=alert(1)>"


def _slash_message() -> str:
    try:
        validate_name("a/b")
    except InvalidNameError as exc:
        return str(exc)
    raise AssertionError("validate_name accepted 'a/b'")


#: What validate_name says about '/' and '\' (its exact backslashes: see the xfail below).
SLASH_MESSAGE = _slash_message()


def tiny_png(seed: int, size: int = 16) -> bytes:
    """A small PNG of random pixels: distinct bytes for every seed, no face."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def image_error(data: bytes) -> str:
    """The message read_image gives for bad bytes (what a skipped file must show)."""
    with pytest.raises(ImageError) as info:
        read_image(data)
    return str(info.value)


def manifest(store: DatasetStore) -> dict:
    return json.loads(store.manifest_path.read_text(encoding="utf-8"))


def all_files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file() or path.is_symlink()}


@pytest.fixture
def store(tmp_path: Path) -> DatasetStore:
    return DatasetStore(tmp_path / "dataset")


@pytest.fixture(scope="session")
def template_root(tmp_path_factory: pytest.TempPathFactory, make_photo) -> Path:
    """A store with Ada (4 red photos) and Bo (4 blue ones), faces found: 8 kept crops.

    Found by the classic engine: the tint that tells these people apart is what
    its features see (embeddings ignore it), and the training-data tests below
    check its 4096 features, mirrored copies and feature cache.
    """
    root = tmp_path_factory.mktemp("template") / "dataset"
    store = DatasetStore(root)
    for name, tint, offset in (("Ada", "red", 0), ("Bo", "blue", 10)):
        store.add_person(name)
        for seed in range(4):
            report = store.add_photo(name, make_photo(tint, offset + seed), f"{name} {seed}.jpg")
            assert report.added == [f"{name} {seed}.jpg"]
    calls = []
    report = store.find_faces(
        engine="classic", progress=lambda done, total: calls.append((done, total)), workers=2
    )
    assert report == CropReport(photos=8, faces=8, clean_faces=8, kept=8)
    assert calls == [(done, 8) for done in range(1, 9)]
    return root


@pytest.fixture
def cropped(template_root: Path, tmp_path: Path) -> DatasetStore:
    """A private copy of the template store."""
    root = tmp_path / "dataset"
    shutil.copytree(template_root, root)
    return DatasetStore(root)


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "a name cannot be empty"),
        ("   \t ", "a name cannot be empty"),
        ("x" * (MAX_NAME_LENGTH + 1), f"a name can have at most {MAX_NAME_LENGTH} characters"),
        ("../etc", SLASH_MESSAGE),
        ("AC/DC", SLASH_MESSAGE),
        ("back\\slash", SLASH_MESSAGE),
        ("Bo\x00b", "a name cannot contain control or invisible characters"),
        ("Bo\nb", "a name cannot contain control or invisible characters"),
        ("Bo\x1b[31mb", "a name cannot contain control or invisible characters"),
        ("Bo\u200bb", "a name cannot contain control or invisible characters"),  # zero-width space
        ("Bo\u202eb", "a name cannot contain control or invisible characters"),  # right-to-left override
        (".", "a name cannot be only dots"),
        ("..", "a name cannot be only dots"),
        (" ... ", "a name cannot be only dots"),
        (None, "a name must be text"),
        (42, "a name must be text"),
    ],
)
def test_validate_name_refuses(name, message):
    with pytest.raises(InvalidNameError) as info:
        validate_name(name)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_slash_message_names_both_characters():
    assert SLASH_MESSAGE.startswith("a name cannot contain '/' or '")
    assert "\\" in SLASH_MESSAGE


def test_slash_message_shows_one_backslash():
    assert SLASH_MESSAGE == "a name cannot contain '/' or '\\'"


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("  Serena Williams ", "Serena Williams"),
        ("Novak Đoković", "Novak Đoković"),
        ("李娜", "李娜"),
        ("Zoë", "Zoë"),
        ("Jose\u0301", "Jos\u00e9"),  # combining accent: stored composed (NFC)
        (HOSTILE_NAME, HOSTILE_NAME),
        ("O'Neal; DROP TABLE people", "O'Neal; DROP TABLE people"),
        ("x" * MAX_NAME_LENGTH, "x" * MAX_NAME_LENGTH),
        ("..a", "..a"),
    ],
)
def test_validate_name_keeps_names_as_typed(name, stored):
    assert validate_name(name) == stored


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Roger Federer", "roger_federer"),
        ("Novak Đoković", "novak_okovic"),
        ("José", "jose"),
        ("李娜", "person"),
        ("...", "person"),
        (HOSTILE_NAME, "img_src_x_onerror_alert_1"),
        ("  A--B  ", "a_b"),
        ("CON", "con"),
    ],
)
def test_slugify(name, slug):
    assert slugify(name) == slug


def test_slugify_is_short_and_safe():
    slug = slugify("A very long name " * 10)
    assert len(slug) <= 40
    assert set(slug) <= set("abcdefghijklmnopqrstuvwxyz0123456789_")


def test_content_hash_is_sha256_hex():
    assert content_hash(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


# --------------------------------------------------------------------------- people


def test_empty_store(store: DatasetStore):
    assert store.people() == []
    assert not store.manifest_path.exists()
    data, ids = store.training_set(store.engine("classic"))
    assert ids == []
    assert data.features.shape == (0, 4096)
    assert store.fingerprint() == DatasetStore(store.root).fingerprint()


def test_empty_training_set_is_usable(store: DatasetStore):
    data, _ = store.training_set()
    assert data.is_copy.dtype == bool
    assert len(data.originals.labels) == 0


def test_add_person_returns_a_summary(store: DatasetStore):
    assert store.add_person("  Roger Federer ") == PersonSummary(
        name="Roger Federer", slug="roger_federer", photos=0, unprocessed=0, kept=0, rejected=0
    )
    assert manifest(store)["version"] == 1
    assert manifest(store)["people"]["roger_federer"]["name"] == "Roger Federer"


@pytest.mark.parametrize("again", ["Roger Federer", "roger federer", "  ROGER FEDERER  "])
def test_duplicate_names_are_refused_whatever_the_case(store: DatasetStore, again: str):
    store.add_person("Roger Federer")
    with pytest.raises(InvalidNameError) as info:
        store.add_person(again)
    assert str(info.value) == f"there is already a person called {again.strip()!r}"
    assert [p.name for p in store.people()] == ["Roger Federer"]


def test_same_slug_gets_a_number(store: DatasetStore):
    assert store.add_person("Roger Federer").slug == "roger_federer"
    # Another person whose name makes the same slug ("Roger-Federer" would be the same person:
    # names that differ only in case, spaces, "_" or "-" name one person, see same_person).
    assert store.add_person("Roger.Federer").slug == "roger_federer_2"
    assert store.add_person("李娜").slug == "person"
    assert store.add_person("王楠").slug == "person_2"
    assert [p.name for p in store.people()] == ["Roger Federer", "Roger.Federer", "李娜", "王楠"]


def test_slug_avoids_a_folder_already_on_disk(store: DatasetStore):
    (store.root / "bob").mkdir()
    (store.root / "bob" / "stray.txt").write_text("not ours")
    assert store.add_person("Bob").slug == "bob_2"
    assert (store.root / "bob" / "stray.txt").read_text() == "not ours"


def test_people_are_sorted_by_name_ignoring_case(store: DatasetStore):
    for name in ("bo", "Ada", "Carl"):
        store.add_person(name)
    assert [p.name for p in store.people()] == ["Ada", "bo", "Carl"]


def test_hostile_name_is_stored_as_text_with_a_safe_folder(store: DatasetStore):
    summary = store.add_person(HOSTILE_NAME)
    assert summary.name == HOSTILE_NAME
    assert summary.slug == "img_src_x_onerror_alert_1"
    report = store.add_photo(HOSTILE_NAME, tiny_png(1), "<b onmouseover=alert(1)>.png")
    assert report.added == ["<b onmouseover=alert(1)>.png"]  # the name is only ever shown as text
    assert [p.name for p in DatasetStore(store.root).people()] == [HOSTILE_NAME]
    assert manifest(store)["people"]["img_src_x_onerror_alert_1"]["name"] == HOSTILE_NAME
    for path in all_files(store.root):
        relative = path.relative_to(store.root).as_posix()
        assert "<" not in relative and ">" not in relative, relative
    sha = content_hash(tiny_png(1))
    assert (
        store.photo_path(HOSTILE_NAME, sha) == store.root / f"img_src_x_onerror_alert_1/photos/{sha[:20]}.png"
    )


def test_unicode_names_round_trip(store: DatasetStore):
    store.add_person("Novak Đoković")
    store.add_person("李娜")
    reopened = DatasetStore(store.root)
    assert [p.name for p in reopened.people()] == ["Novak Đoković", "李娜"]
    assert "李娜" in store.manifest_path.read_text(encoding="utf-8")


def test_invalid_name_is_refused_by_add_person(store: DatasetStore):
    with pytest.raises(InvalidNameError):
        store.add_person("a/b")
    assert store.people() == []


def test_rename_person_keeps_photos_and_folder(store: DatasetStore):
    store.add_person("Ada")
    store.add_photo("Ada", tiny_png(1), "one.png")
    store.rename_person("ada", "Ada Lovelace")
    assert [(p.name, p.slug, p.photos) for p in store.people()] == [("Ada Lovelace", "ada", 1)]
    store.rename_person("Ada Lovelace", "ADA LOVELACE")  # a change of case is allowed
    assert [p.name for p in store.people()] == ["ADA LOVELACE"]


def test_rename_to_someone_else_is_refused(store: DatasetStore):
    store.add_person("Ada")
    store.add_person("Bo")
    with pytest.raises(InvalidNameError) as info:
        store.rename_person("Ada", "bo")
    assert str(info.value) == "there is already a person called 'bo'"
    with pytest.raises(InvalidNameError):
        store.rename_person("Ada", "")
    with pytest.raises(DatasetError) as missing:
        store.rename_person("Nobody", "Somebody")
    assert str(missing.value) == "there is no person called 'Nobody'"
    assert [p.name for p in store.people()] == ["Ada", "Bo"]


def test_delete_person_removes_their_folder(store: DatasetStore):
    store.add_person("Ada")
    store.add_person("Bo")
    store.add_photo("Ada", tiny_png(1), "one.png")
    assert (store.root / "ada" / "photos").is_dir()
    store.delete_person("ADA")
    assert [p.name for p in store.people()] == ["Bo"]
    assert not (store.root / "ada").exists()
    with pytest.raises(DatasetError) as info:
        store.delete_person("Ada")
    assert str(info.value) == "there is no person called 'Ada'"
    # The photo may now be added to someone else.
    assert store.add_photo("Bo", tiny_png(1), "one.png").added == ["one.png"]


# --------------------------------------------------------------------------- photos


def test_add_photo_stores_the_bytes(store: DatasetStore):
    store.add_person("Ada")
    data = tiny_png(1)
    report = store.add_photo("Ada", data, "holiday.png")
    assert report == AddReport(added=["holiday.png"], skipped=[])
    assert report.summary() == "1 added, 0 skipped"
    sha = content_hash(data)
    path = store.photo_path("Ada", sha)
    assert path == store.root / "ada" / "photos" / f"{sha[:20]}.png"
    assert path.read_bytes() == data
    record = manifest(store)["people"]["ada"]["photos"][sha]
    assert record["filename"] == "holiday.png"
    assert record["stored"] == f"ada/photos/{sha[:20]}.png"
    assert record["searched"] == [] and record["faces_found"] == {}
    assert store.people()[0] == PersonSummary("Ada", "ada", photos=1, unprocessed=1, kept=0, rejected=0)


def test_add_photo_names_the_file_by_its_format(store: DatasetStore, make_photo):
    store.add_person("Ada")
    jpeg = make_photo("red", 0)
    store.add_photo("Ada", jpeg, "looks-like.png")
    gif = io.BytesIO()
    Image.new("P", (8, 8), 3).save(gif, format="GIF")
    store.add_photo("Ada", gif.getvalue(), "anim")
    assert store.photo_path("Ada", content_hash(jpeg)).suffix == ".jpg"
    assert store.photo_path("Ada", content_hash(gif.getvalue())).suffix == ".gif"


def test_add_photo_twice_is_a_no_op(store: DatasetStore):
    store.add_person("Ada")
    store.add_photo("Ada", tiny_png(1), "one.png")
    before = manifest(store)
    report = store.add_photo("Ada", tiny_png(1), "again.png")
    assert report == AddReport(added=[], skipped=[("again.png", "the same photo is already added")])
    assert manifest(store) == before


def test_same_photo_for_another_person_is_skipped_naming_them(store: DatasetStore):
    store.add_person("Ada Lovelace")
    store.add_person("Bo")
    store.add_photo("Ada Lovelace", tiny_png(1), "one.png")
    report = store.add_photo("Bo", tiny_png(1), "one.png")
    assert report.skipped == [("one.png", "the same photo is already added to Ada Lovelace")]
    assert report.added == []
    assert [p.photos for p in store.people()] == [1, 0]


@pytest.mark.parametrize(
    "data",
    [b"", b"this is not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, tiny_png(1)[:60]],
    ids=["empty", "text", "png-header-only", "truncated-png"],
)
def test_bad_bytes_are_skipped_with_the_image_error(store: DatasetStore, data: bytes):
    store.add_person("Ada")
    report = store.add_photo("Ada", data, "bad.jpg")
    assert report == AddReport(added=[], skipped=[("bad.jpg", image_error(data))])
    assert store.people()[0].photos == 0
    assert not (store.root / "ada").exists()


@pytest.mark.parametrize(
    ("filename", "shown"),
    [
        ("C:\\Users\\me\\pic.png", "pic.png"),
        ("dir/sub/pic.png", "pic.png"),
        ("../../etc/pic.png", "pic.png"),
        ("", "photo"),
        ("Zoë (1) @home.png", "Zoë (1) @home.png"),
    ],
)
def test_add_photo_shows_only_the_file_name(store: DatasetStore, filename: str, shown: str):
    store.add_person("Ada")
    assert store.add_photo("Ada", tiny_png(1), filename).added == [shown]
    assert {p.parent for p in all_files(store.root) if p.suffix == ".png"} == {store.root / "ada" / "photos"}


def test_add_photo_to_nobody_is_an_error(store: DatasetStore):
    with pytest.raises(DatasetError) as info:
        store.add_photo("Nobody", tiny_png(1), "one.png")
    assert str(info.value) == "there is no person called 'Nobody'"


def test_photo_path_of_an_unknown_photo(store: DatasetStore):
    store.add_person("Ada")
    with pytest.raises(DatasetError) as info:
        store.photo_path("Ada", "0" * 64)
    assert str(info.value) == "Ada has no such photo"


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


# --------------------------------------------------------------------------- zips


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
    monkeypatch.setattr(dataset_module, "MAX_ZIP_MEMBERS", 2)
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
    monkeypatch.setattr(dataset_module, "MAX_ZIP_BYTES", 100)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.png", b"\x00" * 1000)
    store.add_person("Ada")
    with pytest.raises(DatasetError) as info:
        store.add_zip("Ada", buffer.getvalue())
    assert str(info.value) == "the zip expands to more than 2 GB; split it into smaller zips"


# --------------------------------------------------------------------------- folders


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


# --------------------------------------------------------------------------- faces and crops


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


def test_set_status_checks_its_arguments(cropped: DatasetStore):
    with pytest.raises(ValueError) as info:
        cropped.set_status([cropped.crops("Ada", engine="classic")[0].record.id], "deleted")
    assert str(info.value) == "status must be 'kept' or 'rejected'"
    before = manifest(cropped)
    cropped.set_status(["no-such-crop"], REJECTED)  # unknown ids are ignored
    assert manifest(cropped) == before
    with pytest.raises(DatasetError) as missing:
        cropped.crop("no-such-crop")
    assert str(missing.value) == "no crop 'no-such-crop' in the dataset"


# --------------------------------------------------------------------------- manifest


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


# --------------------------------------------------------------------------- atomic writes


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


# --------------------------------------------------------------------------- training data


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
    other = DatasetStore(cropped.root)
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


def test_fingerprint_follows_what_training_sees(cropped: DatasetStore):
    original = cropped.fingerprint("classic")
    assert len(original) == 16 and set(original) <= set("0123456789abcdef")
    assert cropped.fingerprint("classic") == original
    crop_id = cropped.crops("Ada", engine="classic")[0].record.id
    cropped.set_status([crop_id], REJECTED)
    rejected = cropped.fingerprint("classic")
    assert rejected != original
    cropped.set_status([crop_id], KEPT)
    assert cropped.fingerprint("classic") == original
    cropped.rename_person("Ada", "Ada Lovelace")
    assert cropped.fingerprint("classic") not in (original, rejected)


def test_fingerprint_ignores_unprocessed_photos(cropped: DatasetStore):
    original = cropped.fingerprint("classic")
    cropped.add_photo("Ada", tiny_png(1), "new.png")
    assert cropped.fingerprint("classic") == original


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
