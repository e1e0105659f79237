"""Sorting an album by the people in its photos: celeb/sort.py and `python -m celeb sort`."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

# The classic model of test_classify_cli's three tinted people, and its helpers.
from test_classify_cli import PEOPLE, bundle, model_path, run  # noqa: F401 (fixtures)

from celeb.classify import FacePrediction
from celeb.faces import Box
from celeb.sort import NO_FACE, STATE_FILE, UNKNOWN, SortError, sort_photos


@pytest.fixture
def album(tmp_path: Path, make_photo) -> Path:
    """Two photos of each of the model's people (one in a sub-folder), one without a face."""
    root = tmp_path / "album"
    (root / "trip").mkdir(parents=True)
    for index, (person, tint) in enumerate(PEOPLE.items()):
        (root / f"{person} at home.jpg").write_bytes(make_photo(tint, 10 + index))
        (root / "trip" / f"{person} on the beach.jpg").write_bytes(make_photo(tint, 20 + index))
    wall = cv2.imencode(".png", np.full((200, 300, 3), 90, np.uint8))[1].tobytes()
    (root / "trip" / "wall.png").write_bytes(wall)
    return root


ALBUM_PHOTOS = 2 * len(PEOPLE) + 1


def files_below(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_sort_files_every_photo_under_who_is_in_it_and_leaves_the_album_alone(
    capsys, album: Path, tmp_path: Path, model_path
):
    before = files_below(album)
    dest = tmp_path / "sorted"
    code, out, err = run(capsys, "sort", album, dest, "--model", model_path, "--threshold", "0")
    assert code == 0, err
    assert files_below(album) == before
    expected = {f"{person}/{person} at home.jpg" for person in PEOPLE}
    expected |= {f"{person}/{person} on the beach.jpg" for person in PEOPLE}
    expected |= {f"{NO_FACE}/wall.png"}
    filed = files_below(dest)
    assert set(filed) - {STATE_FILE, "sorted.csv"} == expected
    assert filed[f"{NO_FACE}/wall.png"] == before["trip/wall.png"]  # a copy, byte for byte
    assert out.splitlines()[0] == f"{ALBUM_PHOTOS} photos: {ALBUM_PHOTOS} sorted now"
    assert f"  {NO_FACE}: 1 photos" in out
    rows = list(csv.DictReader((dest / "sorted.csv").open()))
    assert [row["photo"] for row in rows][-1] == "trip/wall.png"  # album order: folder by folder
    assert {row["photo"]: row["folders"] for row in rows}["trip/wall.png"] == NO_FACE


def test_a_second_run_sorts_only_new_photos(capsys, album: Path, tmp_path: Path, model_path, make_photo):
    dest = tmp_path / "sorted"
    assert run(capsys, "sort", album, dest, "--model", model_path, "--threshold", "0")[0] == 0
    first = files_below(dest)
    code, out, _ = run(capsys, "sort", album, dest, "--model", model_path, "--threshold", "0")
    done = f"{ALBUM_PHOTOS} photos: 0 sorted now, {ALBUM_PHOTOS} done in an earlier run"
    assert code == 0 and out.splitlines()[0] == done
    (album / "new.jpg").write_bytes(make_photo("red", 99))
    code, out, _ = run(capsys, "sort", album, dest, "--model", model_path, "--threshold", "0")
    assert out.splitlines()[0].startswith(f"{ALBUM_PHOTOS + 1} photos: 1 sorted now")
    assert set(files_below(dest)) - set(first) == {f"{next(iter(PEOPLE))}/new.jpg"}


def test_a_run_whose_record_was_lost_files_no_photo_twice(capsys, album: Path, tmp_path: Path, model_path):
    dest = tmp_path / "sorted"
    run(capsys, "sort", album, dest, "--model", model_path, "--threshold", "0")
    first = set(files_below(dest))
    (dest / STATE_FILE).unlink()  # as if the run had stopped before saving what it did
    assert run(capsys, "sort", album, dest, "--model", model_path, "--threshold", "0")[0] == 0
    assert set(files_below(dest)) == first  # no "name (2).jpg" copies


class TwoPeople:
    """A classifier that finds two known people and a stranger in every photo."""

    def classify(self, data: bytes):
        def face(person: str | None, x: int) -> FacePrediction:
            return FacePrediction(Box(x, 0, 10, 10), person, 0.9, {"Ann": 0.9, "Bob": 0.1}, True, None)

        class Result:
            def __init__(self) -> None:
                self.faces = [face("Ann", 0), face("Bob", 20), face(None, 40), face("Ann", 60)]

        return Result()


def test_a_photo_of_two_people_goes_in_both_folders_and_in_unknown(tmp_path: Path, make_photo):
    album = tmp_path / "album"
    album.mkdir()
    (album / "team.jpg").write_bytes(make_photo("none", 1))
    report = sort_photos(album, tmp_path / "out", TwoPeople())
    [photo] = report.photos
    assert photo.people == ("Ann", "Bob") and photo.unknown_faces == 1
    assert photo.folders == ("Ann", "Bob", UNKNOWN)
    for folder in photo.folders:
        assert (tmp_path / "out" / folder / "team.jpg").read_bytes() == (album / "team.jpg").read_bytes()
    assert report.people_found() == {"Ann": ["team.jpg"], "Bob": ["team.jpg"]}


def test_unreadable_photos_are_listed_and_the_exit_status_says_so(capsys, tmp_path: Path, model_path: Path):
    album = tmp_path / "album"
    album.mkdir()
    (album / "broken.jpg").write_bytes(b"not a photo at all")
    code, out, _ = run(capsys, "sort", album, tmp_path / "out", "--model", model_path)
    assert code == 1
    assert "  cannot be read: broken.jpg: " in out
    assert not (tmp_path / "out" / NO_FACE).exists()


def test_the_destination_may_not_be_inside_the_album(tmp_path: Path, album: Path):
    with pytest.raises(SortError, match="must not be inside the album"):
        sort_photos(album, album / "sorted", TwoPeople())
    with pytest.raises(SortError, match="is not a folder"):
        sort_photos(tmp_path / "nowhere", tmp_path / "out", TwoPeople())
