"""The sorted photos as one zip, laid out as ``sort`` fills its destination (with sorted.csv): the
Classify page's download."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from pathlib import Path

from .report import REPORT_FILE, SortedPhoto, SortReport, report_csv


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
