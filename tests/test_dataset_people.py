"""A zip (or an uploaded folder) of people folders, and the whole-face images crops are reviewed by.

Photos are tiny random PNGs where no face is needed; review images are checked
on drawn photos where the face box is a white square.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import celeb.dataset as dataset_module
from celeb.dataset import (
    REVIEW_SIZE,
    DatasetStore,
    encode_png,
    face_view,
    people_in_paths,
    preview_paths,
    preview_zip_people,
    review_image,
)
from celeb.errors import DatasetError


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
    monkeypatch.setattr(dataset_module, "MAX_ZIP_MEMBERS", 2)
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


# ---------------------------------------------------------------- review images


def drawn_photo(width: int, height: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """Black, with a grey ring (half the box's size) around a white face box."""
    rgb = np.zeros((height, width, 3), np.uint8)
    x, y, w, h = box
    rgb[max(0, y - h // 2) : y + h + h // 2, max(0, x - w // 2) : x + w + w // 2] = 128
    rgb[y : y + h, x : x + w] = 255
    return rgb


def white_share(view: np.ndarray) -> float:
    return float((view.min(axis=2) > 200).mean())


@pytest.mark.parametrize("box", [(100, 120, 50, 50), (0, 0, 50, 50), (250, 350, 50, 50)])
def test_face_view_shows_the_whole_face_with_a_margin(box):
    view = face_view(drawn_photo(300, 400, box), box)
    assert view.shape == (REVIEW_SIZE, REVIEW_SIZE, 3)
    # The face takes (1 / 1.8)² of the square: all of it, and no more (the margin is around it) ...
    assert white_share(view) == pytest.approx((1 / 1.8) ** 2, abs=0.03)
    # ... and the margin is the photo around the face (grey), moved inside the photo at its edges.
    if box == (100, 120, 50, 50):
        assert view.max(axis=2).min() > 0  # no black: the square holds the face and its ring only


def test_face_view_of_a_face_as_large_as_the_photo():
    view = face_view(drawn_photo(60, 60, (5, 5, 50, 50)), (5, 5, 50, 50), size=96)
    assert view.shape == (96, 96, 3)
    assert white_share(view) > 0.6


def test_review_image_reads_the_photo_reduced_and_falls_back_to_the_crop(tmp_path: Path):
    box = (1200, 900, 400, 400)  # in the photo as stored: 3000 x 2400, larger than it is decoded
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), drawn_photo(3000, 2400, box))
    crop = tmp_path / "crop.png"
    crop.write_bytes(encode_png(np.full((128, 128, 3), 7, np.uint8)))
    view = review_image(photo, box, crop)
    assert view.shape == (REVIEW_SIZE, REVIEW_SIZE, 3)
    assert white_share(view) == pytest.approx((1 / 1.8) ** 2, abs=0.03)
    photo.unlink()
    assert (review_image(photo, box, crop) == 7).all()  # the photo is gone: the crop itself
    crop.unlink()
    with pytest.raises(DatasetError, match="missing"):
        review_image(photo, box, crop)


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
