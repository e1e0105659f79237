"""What sorting gave: each photo's people and the folders it goes to (:class:`SortedPhoto`), the
report of a run (:class:`SortReport`) and its table, ``sorted.csv``. The words every part of
sorting shares: the ``unknown`` and ``no face`` folders, a person's folder.

>>> folder_name("Lionel Messi"), folder_name('a:b?"c'), folder_name("unknown")
('Lionel Messi', 'a_b__c', 'unknown (person)')
"""

from __future__ import annotations

import base64
import csv
import io
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..classify import FacePrediction
    from ..strangers import Group

UNKNOWN = "unknown"
NO_FACE = "no face"
REPORT_FILE = "sorted.csv"


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
    #: The copies, inside the destination ("folder/name"); two photos of the same name and bytes
    #: share one. Empty for the app's photos, and in the records of older runs.
    files: tuple[str, ...] = ()

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
    #: Sub-folders of the album that could not be listed (their path inside it, and why): their
    #: photos are in no folder of the destination.
    unreadable_folders: list[tuple[str, str]] = field(default_factory=list)

    def folder_counts(self) -> Counter:
        """Photos per destination folder."""
        return Counter(folder for photo in self.photos for folder in photo.folders)

    def duplicates(self) -> Counter:
        """Per destination folder, the photos that share their copy with another photo (the same
        name and the same bytes: the folder holds one file for them)."""
        copies = Counter(file for photo in self.photos for file in set(photo.files))
        shared = Counter()
        for file, photos in copies.items():
            if photos > 1:
                shared[file.rpartition("/")[0]] += photos - 1
        return shared

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


def encode_vector(vector: np.ndarray) -> str:
    """An embedding as base64 float16 (half precision is plenty for distances of about 0.1).

    >>> v = np.array([0.25, -0.5, 1.0]); np.array_equal(decode_vector(encode_vector(v)), v)
    True
    """
    return base64.b64encode(np.asarray(vector, dtype="<f2").tobytes()).decode("ascii")


def decode_vector(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f2").astype(np.float32)


def in_unknown(folder: str) -> bool:
    return folder == UNKNOWN or folder.startswith(f"{UNKNOWN}/")


def report_csv(report: SortReport) -> str:
    """One row per photo: its path in the album, the people found, unknown faces, folders, error.

    Text that cannot be UTF-8 (a file name's byte in another encoding) is shown as ``\\xNN``, as
    the command line prints it, so that the table is always valid UTF-8.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["photo", "people", "unknown faces", "folders", "error"])
    for photo in report.photos:
        writer.writerow(
            [
                valid_text(photo.path),
                valid_text("; ".join(photo.people)),
                photo.unknown_faces,
                valid_text("; ".join(photo.folders)),
                valid_text(photo.error or ""),
            ]
        )
    return out.getvalue()


def valid_text(text: str) -> str:
    r"""``text`` with a file name's undecodable bytes (surrogate escapes) as ``\xNN``.

    >>> import os
    >>> valid_text(os.fsdecode(b"caf\xe9.jpg")), valid_text("café")
    ('caf\\xe9.jpg', 'café')
    """
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
