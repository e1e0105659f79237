"""``unknown/`` by groups of strangers: the unknown faces of the photos grouped by who they look
like (``celeb.strangers``), each photo sent to ``unknown/<group>/`` for every group one of its faces
is in (:func:`group_strangers`, nothing written: the Classify page's), and ``unknown/`` rebuilt in
the destination to match (:func:`file_strangers`, the album sort's)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..errors import ImageError
from ..images import photo_file_bytes
from ..strangers import Group, UnknownFace, group_unknown
from .destination import Destination
from .report import UNKNOWN, SortedPhoto, decode_vector, in_unknown


def file_strangers(
    album: Path, place: Destination, photos: list[SortedPhoto], distance: float | None
) -> tuple[list[SortedPhoto], list[Group]]:
    """Group the unknown faces of ``photos`` and rebuild ``unknown/`` in the destination: a photo
    with grouped faces goes to ``unknown/<group>/`` for every group (or ``unknown/others``) one of
    its faces is in; a photo without embeddings stays in ``unknown/`` itself. The copies sort made
    under ``unknown/`` that belong nowhere now are removed; nothing else is touched.

    Returns the photos with their folders and files, and the groups.
    """
    grouped, groups = group_strangers(photos, distance)
    kept: set[str] = set()
    filed = []
    for photo in grouped:
        unknown_folders = [folder for folder in photo.folders if in_unknown(folder)]
        if unknown_folders:
            elsewhere = tuple(file for file in photo.files if not in_unknown(file))
            try:
                data = photo_file_bytes(album / photo.path)
            except ImageError:  # cannot be read now: its copies stay where they were
                copies = tuple(file for file in photo.files if in_unknown(file))
            else:
                name = Path(photo.path).name
                copies = tuple(place.copy(data, folder, name) for folder in unknown_folders)
            kept.update(copies)
            photo = replace(photo, files=elsewhere + copies)
        filed.append(photo)
    place.remove_stale(UNKNOWN, kept)
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
            folders = tuple(folder for folder in photo.folders if not in_unknown(folder))
            photo = replace(photo, folders=folders + tuple(where.get(photo.path, [UNKNOWN])))
        filed.append(photo)
    return filed, groups
