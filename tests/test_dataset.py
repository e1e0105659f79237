"""Tests for celeb.dataset (DatasetStore: people, photos, curation).

Every test of the store runs against both stores (conftest.py's ``store`` and ``cropped``: the folder
and a real PostgreSQL database). Photos are generated: tiny random PNGs where no face is needed, tinted
copies of scikit-image's astronaut where find_faces must find one.
"""

from __future__ import annotations

import io
import json

import pytest
from helpers import HOSTILE_NAME, all_files, image_error, manifest, tiny_png
from PIL import Image

from celeb.archive import AddReport
from celeb.dataset import DatasetStore
from celeb.errors import DatasetError, InvalidNameError
from celeb.manifest import KEPT, REJECTED, PersonSummary, content_hash


def reopen(store: DatasetStore, **options: object) -> DatasetStore:
    """The same store opened again (as another process would)."""
    return DatasetStore(store.root, database=store.database, **options)


# --------------------------------------------------------------------------- people


def test_empty_store(store: DatasetStore):
    assert store.people() == []
    assert not store.manifest_path.exists()
    data, ids = store.training_set(store.engine("classic"))
    assert ids == []
    assert data.features.shape == (0, 4096)
    assert store.fingerprint() == reopen(store).fingerprint()


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
    assert [p.name for p in reopen(store).people()] == [HOSTILE_NAME]
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
    reopened = reopen(store)
    assert [p.name for p in reopened.people()] == ["Novak Đoković", "李娜"]
    assert "李娜" in json.dumps(manifest(store), ensure_ascii=False)


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


def test_add_photos_reports_each_photo_in_order(store: DatasetStore):
    store.add_person("Ada")
    photos = [
        ("a.png", tiny_png(1), ""),
        ("bad.jpg", b"nope", ""),
        ("unread.png", None, "cannot be read (Permission denied)"),
        ("again.png", tiny_png(1), ""),  # the same bytes as a.png, in the same change
        ("b.png", tiny_png(2), "https://example.org/b.png"),
    ]
    report = store.add_photos("Ada", iter(photos))
    assert report.added == ["a.png", "b.png"]
    assert report.skipped == [
        ("bad.jpg", image_error(b"nope")),
        ("unread.png", "cannot be read (Permission denied)"),
        ("again.png", "the same photo is already added"),
    ]
    assert store.imported_urls() == {"https://example.org/b.png": "Ada"}
    assert len(list((store.root / "ada" / "photos").iterdir())) == 2  # no temporary file left


def test_add_photo_to_nobody_is_an_error(store: DatasetStore):
    with pytest.raises(DatasetError) as info:
        store.add_photo("Nobody", tiny_png(1), "one.png")
    assert str(info.value) == "there is no person called 'Nobody'"


def test_photo_path_of_an_unknown_photo(store: DatasetStore):
    store.add_person("Ada")
    with pytest.raises(DatasetError) as info:
        store.photo_path("Ada", "0" * 64)
    assert str(info.value) == "Ada has no such photo"


# --------------------------------------------------------------------------- curation


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


# --------------------------------------------------------------------------- what training sees


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
