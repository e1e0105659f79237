"""Sort an album: file every photo under the people found in it.

``DEST/<person>/`` for each known person in a photo (a photo of two known
people goes in both), ``DEST/unknown/`` for a photo with a face the model
cannot name, ``DEST/no face/`` for a photo without a face. Photos are copied,
never moved: the album stays as it was.

With an embeddings model the unknown faces of every run so far are grouped by
who they look like (``celeb.strangers``), and such a photo goes to
``DEST/unknown/group-01/`` ... for each group one of its unknown faces is in,
or ``DEST/unknown/others/`` for a face that fits no group. ``unknown/`` is
rebuilt at the end of every run, as new photos may change the groups.

A run is resumable: what each photo gave is recorded in
``DEST/.celeb-sort.json`` (written atomically every few photos and at the
end), and a photo whose path, size and modification time are recorded already
is not classified again (an unknown face's embedding is kept there too, as base64 float16, for
the grouping of later runs). ``DEST/sorted.csv`` lists every photo with the
folders it went to.

>>> folder_name("Lionel Messi"), folder_name('a:b?"c'), folder_name("unknown")
('Lionel Messi', 'a_b__c', 'unknown (person)')
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from .classify import Classifier, FacePrediction
from .errors import CelebError, ImageError
from .images import image_files, photo_file_bytes
from .limits import usable_cores
from .storage import write_atomic
from .strangers import Group, UnknownFace, group_unknown, link_distance

UNKNOWN = "unknown"
NO_FACE = "no face"
STATE_FILE = ".celeb-sort.json"
REPORT_FILE = "sorted.csv"
#: The state is saved after this many photos, so an interrupted run loses at most these.
SAVE_EVERY = 25

Progress = Callable[[int, int], None]


class SortError(CelebError):
    """The album or the destination cannot be used (the message says why)."""


@dataclass(frozen=True)
class SortedPhoto:
    """What one photo of the album gave, and the folders it went to."""

    path: str  # inside the album, with "/" between folders
    size: int
    mtime_ns: int
    people: tuple[str, ...] = ()  # known people found, largest face first, each once
    unknown_faces: int = 0  # faces the model could not name (unknown person, or not sure)
    error: str | None = None  # why it could not be read
    folders: tuple[str, ...] = ()  # where it was copied, inside the destination
    #: Each unknown face's embedding (base64 float16; embeddings models only), for grouping.
    unknown_vectors: tuple[str, ...] = field(default=(), repr=False)

    @property
    def faces(self) -> int:
        return len(self.people) + self.unknown_faces


@dataclass
class SortReport:
    """Every photo of the album (in album order), and how many were classified in this run."""

    photos: list[SortedPhoto] = field(default_factory=list)
    classified_now: int = 0
    #: The unknown faces grouped (largest group first, then "others"); empty without embeddings.
    groups: list[Group] = field(default_factory=list)

    def folder_counts(self) -> Counter:
        """Photos per destination folder."""
        return Counter(folder for photo in self.photos for folder in photo.folders)

    def people_found(self) -> dict[str, list[str]]:
        """Each known person, with the photos they were found in."""
        found: dict[str, list[str]] = {}
        for photo in self.photos:
            for person in photo.people:
                found.setdefault(person, []).append(photo.path)
        return found

    @property
    def unreadable(self) -> list[SortedPhoto]:
        return [photo for photo in self.photos if photo.error]


def folders_for(people: Iterable[str], unknown_faces: int) -> tuple[str, ...]:
    """Where a photo goes: each known person's folder, ``unknown`` when a face is nobody known,
    ``no face`` when there is none.

    >>> folders_for(["Ann", "Bob"], 1), folders_for([], 0), folders_for([], 2)
    (('Ann', 'Bob', 'unknown'), ('no face',), ('unknown',))
    """
    folders = [folder_name(person) for person in people]
    if unknown_faces:
        folders.append(UNKNOWN)
    return tuple(folders) or (NO_FACE,)


def folder_name(person: str) -> str:
    """A person's folder: their name, with characters no file system allows replaced; never the
    name of the ``unknown`` or ``no face`` folders."""
    name = re.sub(r'[<>:"/\\|?*\x00-\x1f]', "_", person).strip(" .") or "person"
    return f"{name} (person)" if name.casefold() in (UNKNOWN, NO_FACE) else name


def people_in(faces: list[FacePrediction]) -> tuple[tuple[str, ...], int]:
    """The known people among a photo's faces (largest face first, each once), and how many faces
    are nobody known."""
    people = tuple(dict.fromkeys(face.person for face in faces if face.person))
    return people, sum(face.person is None for face in faces)


def sorted_photo(name: str, data: bytes, faces: list[FacePrediction]) -> SortedPhoto:
    """A photo classified elsewhere (the app's), with the folders it goes to and its unknown faces'
    embeddings (for :func:`group_strangers`)."""
    people, unknown = people_in(faces)
    vectors = tuple(encode_vector(f.features) for f in faces if f.person is None and f.features is not None)
    return SortedPhoto(name, len(data), 0, people, unknown, None, folders_for(people, unknown), vectors)


def sorted_zip(photos: Iterable[tuple[SortedPhoto, bytes]]) -> bytes:
    """A zip of the photos in the folders they go to, with sorted.csv: what ``sort`` writes to
    its destination, for a download. A name taken twice in a folder gets a number."""
    photos = list(photos)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # photos are compressed already
        taken: set[str] = set()
        for photo, data in photos:
            for folder in photo.folders:
                archive.writestr(_free_name(taken, folder, Path(photo.path).name), data)
        archive.writestr(REPORT_FILE, report_csv(SortReport([photo for photo, _ in photos])))
    return buffer.getvalue()


def _free_name(taken: set[str], folder: str, name: str) -> str:
    stem, suffix = Path(name).stem, Path(name).suffix
    for number in range(1, len(taken) + 2):
        candidate = f"{folder}/{name}" if number == 1 else f"{folder}/{stem} ({number}){suffix}"
        if candidate not in taken:
            taken.add(candidate)
            return candidate
    raise AssertionError("unreachable: there is always a free number")


def sort_photos(
    album: Path,
    dest: Path,
    classifier: Classifier,
    progress: Progress | None = None,
    workers: int | None = None,
) -> SortReport:
    """Classify every photo of ``album`` not done in an earlier run and copy it into ``dest``.

    Raises :class:`SortError` when ``album`` is not a folder or ``dest`` lies inside it (a second
    run would sort its own output).
    """
    album, dest = Path(album), Path(dest)
    if not album.is_dir():
        raise SortError(f"{album} is not a folder")
    if dest.resolve().is_relative_to(album.resolve()):
        raise SortError("the destination must not be inside the album (it would be sorted again next time)")
    dest.mkdir(parents=True, exist_ok=True)
    files = image_files(album)
    done = _load_state(dest / STATE_FILE)
    distance = grouping_distance(classifier)
    report = SortReport()
    todo = []
    for path in files:
        key, status = _relative(album, path), path.stat()
        earlier = done.get(key)
        # Unknown faces recorded without embeddings are classified again by a model that groups.
        ungrouped = earlier and earlier.unknown_faces and not earlier.unknown_vectors and distance is not None
        same = earlier and (earlier.size, earlier.mtime_ns) == (status.st_size, status.st_mtime_ns)
        if same and not ungrouped:
            report.photos.append(earlier)
        else:
            todo.append((path, key, status))
    results: dict[str, SortedPhoto] = {photo.path: photo for photo in report.photos}

    def sort_one(job: tuple[Path, str, os.stat_result]) -> SortedPhoto:
        path, key, status = job
        return _file(album, dest, path, key, status, classifier)

    total, finished = len(todo), 0
    if progress:
        progress(0, total)
    with ThreadPoolExecutor(max_workers=workers or usable_cores()) as pool:
        for photo in pool.map(sort_one, todo):
            results[photo.path] = photo
            finished += 1
            if finished % SAVE_EVERY == 0:
                _save_state(dest / STATE_FILE, results.values())
            if progress:
                progress(finished, total)
    report.photos = [results[_relative(album, path)] for path in files]
    report.classified_now = total
    report.photos, report.groups = file_strangers(album, dest, report.photos, distance)
    _save_state(dest / STATE_FILE, report.photos)
    write_atomic(dest / REPORT_FILE, report_csv(report).encode())
    return report


def grouping_distance(classifier: Classifier) -> float | None:
    """The distance unknown faces are grouped at, from the model's calibrated unknown-person
    distance (None for a model without embeddings, whose unknown faces are not grouped)."""
    gallery = getattr(getattr(classifier, "bundle", None), "gallery", None)
    return None if gallery is None else link_distance(gallery.threshold)


def report_csv(report: SortReport) -> str:
    """One row per photo: its path in the album, the people found, unknown faces, folders, error."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["photo", "people", "unknown faces", "folders", "error"])
    for photo in report.photos:
        writer.writerow(
            [
                photo.path,
                "; ".join(photo.people),
                photo.unknown_faces,
                "; ".join(photo.folders),
                photo.error or "",
            ]
        )
    return out.getvalue()


def _file(
    album: Path, dest: Path, path: Path, key: str, status: os.stat_result, classifier: Classifier
) -> SortedPhoto:
    try:
        data = photo_file_bytes(path)
        faces = classifier.classify(data).faces
    except ImageError as exc:
        return SortedPhoto(key, status.st_size, status.st_mtime_ns, error=str(exc))
    people, unknown = people_in(faces)
    vectors = [face.features for face in faces if face.person is None]
    if unknown and all(vector is not None for vector in vectors):
        # Filed under unknown/ once every unknown face of the run is grouped (file_strangers).
        folders = (*(folder_name(person) for person in people), UNKNOWN)
        encoded = tuple(encode_vector(vector) for vector in vectors)
    else:
        folders, encoded = folders_for(people, unknown), ()
    for folder in folders:
        if not encoded or folder != UNKNOWN:
            _copy(data, dest / folder, path.name)
    return SortedPhoto(key, status.st_size, status.st_mtime_ns, people, unknown, None, folders, encoded)


def encode_vector(vector: np.ndarray) -> str:
    """An embedding as base64 float16 (half precision is plenty for distances of about 0.1).

    >>> v = np.array([0.25, -0.5, 1.0]); np.array_equal(decode_vector(encode_vector(v)), v)
    True
    """
    return base64.b64encode(np.asarray(vector, dtype="<f2").tobytes()).decode("ascii")


def decode_vector(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f2").astype(np.float32)


def _in_unknown(folder: str) -> bool:
    return folder == UNKNOWN or folder.startswith(f"{UNKNOWN}/")


def file_strangers(
    album: Path, dest: Path, photos: list[SortedPhoto], distance: float | None
) -> tuple[list[SortedPhoto], list[Group]]:
    """Group the unknown faces of ``photos`` and rebuild ``dest/unknown/``: a photo with grouped
    faces goes to ``unknown/<group>/`` for every group (or ``unknown/others``) one of its faces is
    in; a photo without embeddings stays in ``unknown/`` itself. Files under ``dest/unknown`` that
    belong nowhere now are removed; nothing outside it is touched.

    Returns the photos with their folders, and the groups.
    """
    filed, groups = group_strangers(photos, distance)
    kept = set()
    for photo in filed:
        unknown_folders = [folder for folder in photo.folders if _in_unknown(folder)]
        if not unknown_folders:
            continue
        try:
            data = photo_file_bytes(album / photo.path)
        except (ImageError, OSError):
            continue  # gone since it was classified
        for folder in unknown_folders:
            kept.add(_copy(data, dest / folder, Path(photo.path).name))
    _remove_stale(dest / UNKNOWN, kept)
    return filed, groups


def group_strangers(
    photos: list[SortedPhoto], distance: float | None
) -> tuple[list[SortedPhoto], list[Group]]:
    """Group the unknown faces of ``photos`` (at ``distance``; None: no grouping) and send each
    photo with grouped faces to ``unknown/<group>`` for every group one of its faces is in (or
    ``unknown/others``); a photo without embeddings stays in ``unknown``. Nothing is written."""
    faces = [
        UnknownFace(photo.path, index, decode_vector(text))
        for photo in photos
        for index, text in enumerate(photo.unknown_vectors)
    ]
    groups = group_unknown(faces, distance) if faces and distance is not None else []
    where: dict[str, list[str]] = {}
    for group in groups:
        for path in group.photos:
            where.setdefault(path, []).append(f"{UNKNOWN}/{group.name}")
    filed = []
    for photo in photos:
        if photo.unknown_vectors and groups:
            folders = tuple(folder for folder in photo.folders if not _in_unknown(folder))
            photo = replace(photo, folders=folders + tuple(where.get(photo.path, [UNKNOWN])))
        filed.append(photo)
    return filed, groups


def _remove_stale(folder: Path, kept: set[Path]) -> None:
    """Remove the files under ``folder`` not in ``kept``, then its empty sub-folders (a link is
    left alone, and nothing outside ``folder`` is touched)."""
    if not folder.is_dir() or folder.is_symlink():
        return
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_symlink():
            continue
        if path.is_file() and path not in kept:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _copy(data: bytes, folder: Path, name: str) -> Path:
    """Write the photo into ``folder`` as ``name``; the same photo there already is kept, another
    photo of that name gets a numbered name. Returns where it is."""
    folder.mkdir(parents=True, exist_ok=True)
    stem, suffix = Path(name).stem, Path(name).suffix
    for number in range(1, 10_000):
        target = folder / (name if number == 1 else f"{stem} ({number}){suffix}")
        if not target.exists():
            write_atomic(target, data)
            return target
        if target.stat().st_size == len(data) and target.read_bytes() == data:
            return target  # filed by an earlier, interrupted run
    raise SortError(f"too many photos named {name} in {folder}")


def _relative(album: Path, path: Path) -> str:
    return path.relative_to(album).as_posix()


def _load_state(path: Path) -> dict[str, SortedPhoto]:
    """What an earlier run recorded (nothing when there is no record or it is damaged)."""
    try:
        records = json.loads(path.read_text(encoding="utf-8"))["photos"]
        photos = [
            SortedPhoto(
                **{
                    **r,
                    "people": tuple(r["people"]),
                    "folders": tuple(r["folders"]),
                    "unknown_vectors": tuple(r.get("unknown_vectors", ())),
                }
            )
            for r in records
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {photo.path: photo for photo in photos}


def _save_state(path: Path, photos: Iterable[SortedPhoto]) -> None:
    state = {"version": 1, "photos": [asdict(photo) for photo in photos]}
    write_atomic(path, json.dumps(state, ensure_ascii=False, indent=0).encode())
