"""Sorting an album by the people in its photos: celeb/sort/ and `python -m celeb sort`."""

from __future__ import annotations

import csv
import errno
import io
import os
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

# PEOPLE: the three tinted people of conftest.py's classic model (bundle, model_path).
from helpers import PEOPLE, constant_bundle, run

from celeb import cli
from celeb.classify import FacePrediction
from celeb.config import STALE_TEMPORARY_SECONDS
from celeb.faces import Box
from celeb.sort.album import sort_photos
from celeb.sort.places import SortError, SortUsageError
from celeb.sort.report import NO_FACE, UNKNOWN
from celeb.sort.resume import STATE_FILE


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

    bundle = constant_bundle("Ann", ("Ann", "Bob"))  # a classic model, without embeddings: no grouping

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
    with pytest.raises(SortError, match="must not be the album or inside it"):
        sort_photos(album, album / "sorted", TwoPeople())
    with pytest.raises(SortError, match="is not a folder"):
        sort_photos(tmp_path / "nowhere", tmp_path / "out", TwoPeople())


# --------------------------------------------------------------------------- nothing lost (issue 18)


class NoFaces:
    """A classifier that finds no face in any photo: every photo goes to ``no face``."""

    bundle = constant_bundle("Ann", ("Ann", "Bob"))

    def classify(self, data: bytes):
        return SimpleNamespace(faces=[])


def same_name_album(root: Path, count: int) -> dict[str, bytes]:
    """``count`` different photos, each ``sub-N/IMG_0001.jpg`` (bytes are not decoded by the stubs)."""
    photos = {}
    for number in range(count):
        (root / f"sub-{number}").mkdir(parents=True)
        data = os.urandom(3000) + bytes([number])
        (root / f"sub-{number}" / "IMG_0001.jpg").write_bytes(data)
        photos[f"sub-{number}/IMG_0001.jpg"] = data
    return photos


def test_the_album_may_not_be_inside_the_destination_and_is_left_whole(
    capsys, tmp_path: Path, make_photo, monkeypatch
):
    # The report: `sort D/unknown D` emptied D/unknown, the album, unreadable photos and all.
    dest = tmp_path / "D"
    album = dest / UNKNOWN
    album.mkdir(parents=True)
    for seed in range(3):
        (album / f"photo {seed}.jpg").write_bytes(make_photo("none", seed))
    (album / "truncated.jpg").write_bytes(make_photo("none", 9)[:500])
    (album / "sub").mkdir()
    (album / "sub" / "deeper.jpg").write_bytes(make_photo("none", 10))
    before = files_below(album)
    monkeypatch.setattr(cli, "_classifier", lambda args: TwoPeople())
    code, _, err = run(capsys, "sort", album, dest)
    assert code == 2
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert "the album must not be inside the destination" in err
    assert files_below(album) == before


def test_the_destination_may_not_lead_into_the_album(capsys, tmp_path: Path, album: Path, monkeypatch):
    monkeypatch.setattr(cli, "_classifier", lambda args: TwoPeople())
    before = files_below(album)
    for link in (UNKNOWN, "Ann"):  # a folder sort writes in, a link into the album
        dest = tmp_path / f"sorted-{link}"
        dest.mkdir()
        (dest / link).symlink_to(album / "trip")
        code, out, err = run(capsys, "sort", album, dest)
        assert code == 2, out
        assert err.startswith("error: ") and len(err.splitlines()) == 1
        assert files_below(album) == before


@pytest.mark.parametrize(
    ("source", "destination", "why"),
    [
        ("album", "album", "the destination must not be the album"),
        ("album", "link", "the destination must not be the album"),
        ("album", "link/trip", "the destination must not be the album or inside it"),
        ("album", "link/sorted", "the destination must not be the album or inside it"),
        ("link", "album/sorted", "the destination must not be the album or inside it"),
        ("album/trip", ".", "the album must not be inside the destination"),
        ("link/trip", "album", "the album must not be inside the destination"),
    ],
)
def test_the_album_and_the_destination_may_not_overlap_however_named(
    tmp_path: Path, album: Path, source: str, destination: str, why: str
):
    (tmp_path / "link").symlink_to(album)
    before = files_below(album)
    with pytest.raises(SortUsageError, match=why):
        sort_photos(tmp_path / source, tmp_path / destination, TwoPeople())
    assert files_below(album) == before


def test_a_regrouping_removes_only_copies_sort_made(tmp_path: Path, album: Path):
    dest = tmp_path / "sorted"
    (dest / UNKNOWN / "mine").mkdir(parents=True)
    (dest / UNKNOWN / "holiday.jpg").write_bytes(b"the user's own photo")
    (dest / UNKNOWN / "mine" / "note.txt").write_text("not celeb's")
    sort_photos(album, dest, TwoPeople())
    # Two photos leave the album; the copy of one was edited in the destination since.
    people = list(PEOPLE)
    (album / f"{people[0]} at home.jpg").unlink()
    (album / "trip" / f"{people[1]} on the beach.jpg").unlink()
    (dest / UNKNOWN / f"{people[1]} on the beach.jpg").write_bytes(b"edited")
    sort_photos(album, dest, TwoPeople())
    assert (dest / UNKNOWN / "holiday.jpg").read_bytes() == b"the user's own photo"
    assert (dest / UNKNOWN / "mine" / "note.txt").read_text() == "not celeb's"
    assert (dest / UNKNOWN / f"{people[1]} on the beach.jpg").read_bytes() == b"edited"
    assert not (dest / UNKNOWN / f"{people[0]} at home.jpg").exists()  # sort's own copy, unchanged
    assert len([path for path in (dest / UNKNOWN).iterdir() if path.is_file()]) == ALBUM_PHOTOS


def test_photos_of_the_same_name_all_arrive_with_several_workers(tmp_path: Path):
    album = tmp_path / "album"
    photos = same_name_album(album, 90)
    dest = tmp_path / "sorted"
    report = sort_photos(album, dest, NoFaces(), workers=4)
    copies = sorted(p.read_bytes() for p in (dest / NO_FACE).iterdir())
    assert copies == sorted(photos.values())  # each photo once, byte for byte
    assert all(photo.folders == (NO_FACE,) for photo in report.photos)
    report = sort_photos(album, dest, NoFaces(), workers=4)  # a rerun changes nothing
    assert sorted(p.read_bytes() for p in (dest / NO_FACE).iterdir()) == copies


def test_names_too_long_for_a_temporary_file_or_a_number_are_shortened(tmp_path: Path):
    album = tmp_path / "album"
    long_name = "é" * 100 + "a" * 50 + ".jpg"  # 254 bytes: no room for ".<name>.<random>.tmp" or " (2)"
    for number in (1, 2):
        (album / f"sub-{number}").mkdir(parents=True)
        (album / f"sub-{number}" / long_name).write_bytes(b"photo %d" % number)
    dest = tmp_path / "sorted"
    report = sort_photos(album, dest, NoFaces())
    assert not report.unreadable
    names = sorted(p.name for p in (dest / NO_FACE).iterdir())
    assert long_name in names and len(names) == 2
    assert all(len(os.fsencode(name)) <= 255 and name.endswith(".jpg") for name in names)
    assert sorted(p.read_bytes() for p in (dest / NO_FACE).iterdir()) == [b"photo 1", b"photo 2"]
    assert sort_photos(album, dest, NoFaces()).classified_now == 0


def test_a_name_that_is_not_utf8_is_filed_and_recorded(capsys, tmp_path: Path, monkeypatch):
    album = tmp_path / "album"
    album.mkdir()
    name = os.fsdecode(b"caf\xe9.jpg")  # a Latin-1 name, from an old zip
    (album / name).write_bytes(b"coffee")
    dest = tmp_path / "sorted"
    monkeypatch.setattr(cli, "_classifier", lambda args: NoFaces())
    code, out, err = run(capsys, "sort", album, dest)
    assert code == 0, err
    assert (dest / NO_FACE / name).read_bytes() == b"coffee"
    text = (dest / "sorted.csv").read_bytes().decode("utf-8")  # valid UTF-8: the byte shown as \xe9
    assert [row["photo"] for row in csv.DictReader(io.StringIO(text))] == ["caf\\xe9.jpg"]
    code, out, err = run(capsys, "sort", album, dest)
    assert code == 0 and out.splitlines()[0] == "1 photos: 0 sorted now, 1 done in an earlier run"


def test_broken_links_are_listed_as_unreadable(capsys, tmp_path: Path, monkeypatch):
    album = tmp_path / "album"
    album.mkdir()
    (album / "fine.jpg").write_bytes(b"fine")
    (album / "gone.jpg").symlink_to(album / "nowhere.jpg")
    (album / "loop.jpg").symlink_to(album / "loop.jpg")
    dest = tmp_path / "sorted"
    monkeypatch.setattr(cli, "_classifier", lambda args: NoFaces())
    for _ in range(2):  # and a rerun works the same
        code, out, err = run(capsys, "sort", album, dest)
        assert code == 1, err
        assert "  cannot be read: gone.jpg: " in out and "  cannot be read: loop.jpg: " in out
        rows = {row["photo"]: row for row in csv.DictReader((dest / "sorted.csv").open())}
        assert rows["gone.jpg"]["error"] and rows["loop.jpg"]["error"]
        assert rows["fine.jpg"]["folders"] == NO_FACE
    assert (dest / NO_FACE / "fine.jpg").read_bytes() == b"fine"


@pytest.mark.parametrize("failure", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_destination_that_cannot_be_written_is_one_error_line(capsys, tmp_path: Path, monkeypatch, failure):
    album = tmp_path / "album"
    photos = same_name_album(album, 5)
    dest = tmp_path / "sorted"
    monkeypatch.setattr(cli, "_classifier", lambda args: NoFaces())
    synced = []
    real_fsync = os.fsync

    def fill_up(handle: int) -> None:  # the disk is full once two files are written
        synced.append(handle)
        if len(synced) > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(handle)

    def refuse(*args, **kwargs):  # a read-only or forbidden folder: no file can be made
        raise OSError(failure, os.strerror(failure))

    with monkeypatch.context() as broken:
        if failure == errno.ENOSPC:
            broken.setattr(os, "fsync", fill_up)
            where = dest / NO_FACE  # while copying
        else:
            broken.setattr(tempfile, "mkstemp", refuse)
            where = dest  # before any photo is classified
        code, _, err = run(capsys, "sort", album, dest)
    assert code == 1
    lines = [line for line in err.splitlines() if not line.startswith("sorting photos: ")]
    assert lines == [f"error: cannot write in {where}: {os.strerror(failure)}"]
    code, _, err = run(capsys, "sort", album, dest)  # once there is room, a rerun files every photo
    assert code == 0, err
    assert sorted(p.read_bytes() for p in (dest / NO_FACE).iterdir()) == sorted(photos.values())
    assert not [p for p in dest.rglob(".*") if p.name != STATE_FILE]  # no temporary file left


def test_the_temporary_files_of_an_interrupted_run_are_removed_when_it_resumes(tmp_path: Path, album: Path):
    dest = tmp_path / "sorted"
    (dest / "Ann").mkdir(parents=True)
    own = dest / "Ann" / ".celeb-sort-k3j9x0ab.tmp"  # a sort killed while writing a copy, just now
    stale = dest / "Ann" / ".IMG_0001.jpg.k3j9x0ab.tmp"  # write_atomic's, long left
    young = dest / ".notes.txt.k3j9x0ab.tmp"  # maybe another program's write, still running
    in_album = album / ".photo.jpg.k3j9x0ab.tmp"
    for path in (own, stale, young, in_album):
        path.write_bytes(b"half a file")
    old = time.time() - STALE_TEMPORARY_SECONDS - 60
    os.utime(stale, (old, old))
    os.utime(in_album, (old, old))
    sort_photos(album, dest, TwoPeople())
    assert not own.exists() and not stale.exists()
    assert young.exists() and in_album.exists()  # the album is never touched


def test_two_sorts_never_write_in_one_destination_at_once(tmp_path: Path, album: Path):
    fcntl = pytest.importorskip("fcntl")
    dest = tmp_path / "sorted"
    dest.mkdir()
    handle = os.open(dest, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)  # as a sort running in another process holds it
        with pytest.raises(SortError, match="another sort is writing in"):
            sort_photos(album, dest, TwoPeople())
    finally:
        os.close(handle)
    assert sort_photos(album, dest, TwoPeople()).classified_now == ALBUM_PHOTOS


def test_the_counts_agree_with_the_files_when_a_photo_is_there_twice(capsys, tmp_path: Path, monkeypatch):
    album = tmp_path / "album"
    for folder in ("a", "b", "c"):
        (album / folder).mkdir(parents=True)
        (album / folder / "IMG_0001.jpg").write_bytes(b"the same photo" if folder != "c" else b"another")
    dest = tmp_path / "sorted"
    monkeypatch.setattr(cli, "_classifier", lambda args: NoFaces())
    for _ in range(2):
        code, out, err = run(capsys, "sort", album, dest)
        assert code == 0, err
        assert f"  {NO_FACE}: 3 photos (2 files; 1 duplicate)" in out.splitlines()
    assert len(list((dest / NO_FACE).iterdir())) == 2


def test_usage_errors_exit_with_2_before_the_model_is_loaded(
    capsys, tmp_path: Path, album: Path, monkeypatch
):
    monkeypatch.setattr(cli, "_classifier", lambda args: pytest.fail("the model was loaded"))
    for src, dest in ((tmp_path / "nowhere", tmp_path / "out"), (album, album / "sorted")):
        code, _, err = run(capsys, "sort", src, dest)
        assert code == 2
        assert err.startswith("error: ") and len(err.splitlines()) == 1


def test_a_sub_folder_that_cannot_be_listed_is_said_not_skipped_silently(tmp_path: Path, monkeypatch, capsys):
    """A sub-folder os.walk cannot list (no permission; as root, simulated) is reported, and sort says
    so and exits 1: its photos are in no folder of the destination."""
    import errno

    from celeb import images

    album, dest = tmp_path / "album", tmp_path / "dest"
    (album / "locked").mkdir(parents=True)
    walk = os.walk

    def walk_with_a_locked_folder(top, onerror=None, **kwargs):
        for where, folders, files in walk(top, onerror=onerror, **kwargs):
            if "locked" in folders:
                folders.remove("locked")
                onerror(PermissionError(errno.EACCES, "Permission denied", str(album / "locked")))
            yield where, folders, files

    monkeypatch.setattr(images.os, "walk", walk_with_a_locked_folder)
    report = sort_photos(album, dest, NoFaces())
    assert report.unreadable_folders == [("locked", "Permission denied")]
