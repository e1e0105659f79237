"""Sorting an album into a destination (``python -m celeb sort``): every photo not done in an
earlier run classified and copied into the folders of the people in it, the state saved every
few photos, ``unknown/`` rebuilt by groups of strangers and ``sorted.csv`` written at the end.
What sort promises (the album only read, nothing lost, resumable) is in ``celeb/sort/__init__.py``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..classify import Classifier
from ..config import SORT_SAVE_EVERY
from ..errors import ImageError
from ..images import image_files, photo_file_bytes
from ..limits import usable_cores
from ..strangers import grouping_distance
from .destination import Destination, only_sort_in, remove_temporaries
from .places import SortError, cannot_write, check_places
from .report import (
    REPORT_FILE,
    UNKNOWN,
    SortedPhoto,
    SortReport,
    encode_vector,
    folder_name,
    folders_for,
    people_in,
    report_csv,
)
from .resume import STATE_FILE, load_state, save_state
from .unknown_folder import file_strangers

Progress = Callable[[int, int], None]


def sort_photos(
    album: Path,
    dest: Path,
    classifier: Classifier,
    progress: Progress | None = None,
    workers: int | None = None,
) -> SortReport:
    """Classify every photo of ``album`` not done in an earlier run and copy it into ``dest``.

    Raises :class:`SortUsageError` when ``album`` is not a folder or the two overlap (see
    :func:`check_places`), :class:`DestinationError` when ``dest`` cannot be written; what was
    filed until then is recorded as far as ``dest`` allows, and a rerun resumes.
    """
    album, dest = Path(album), Path(dest)
    check_places(album, dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot_write(dest, exc) from exc
    with only_sort_in(dest) as locked:
        remove_temporaries(dest, any_age=locked)
        state = load_state(dest / STATE_FILE)
        place = Destination(album, dest, state.written)
        place.check_writable()
        return _sort(album, place, state.photos, classifier, progress, workers)


def _sort(
    album: Path,
    place: Destination,
    done: dict[str, SortedPhoto],
    classifier: Classifier,
    progress: Progress | None,
    workers: int | None,
) -> SortReport:
    report = SortReport()

    def unreadable_folder(exc: OSError) -> None:
        where = Path(exc.filename or album)
        inside = where.relative_to(album).as_posix() if where.is_relative_to(album) else str(where)
        report.unreadable_folders.append((inside, exc.strerror or str(exc)))

    files = image_files(album, on_error=unreadable_folder)
    distance = grouping_distance(classifier.bundle)
    todo = []
    for path in files:
        key = _relative(album, path)
        try:
            status = path.stat()
        except OSError:  # a dangling or looping link: reading it says why (a photo that cannot be read)
            status = None
        earlier = done.get(key)
        # Unknown faces recorded without embeddings are classified again by a model that groups.
        ungrouped = earlier and earlier.unknown_faces and not earlier.unknown_vectors and distance is not None
        same = status and earlier and (earlier.size, earlier.mtime_ns) == (status.st_size, status.st_mtime_ns)
        if same and not ungrouped:
            report.photos.append(earlier)
        else:
            todo.append((path, key, status))
    results: dict[str, SortedPhoto] = {photo.path: photo for photo in report.photos}

    def sort_one(job: tuple[Path, str, os.stat_result | None]) -> SortedPhoto:
        path, key, status = job
        return _file(place, path, key, status, classifier)

    total, finished = len(todo), 0
    if progress:
        progress(0, total)
    pool = ThreadPoolExecutor(max_workers=workers or usable_cores())
    try:
        for photo in pool.map(sort_one, todo):
            results[photo.path] = photo
            finished += 1
            if finished % SORT_SAVE_EVERY == 0:
                save_state(place, results.values())
            if progress:
                progress(finished, total)
    except BaseException:
        pool.shutdown(cancel_futures=True)  # the photos not started yet wait for the next run
        with contextlib.suppress(SortError):
            save_state(place, results.values())  # what was filed, if the destination takes it
        raise
    pool.shutdown()
    report.photos = [results[_relative(album, path)] for path in files]
    report.classified_now = total
    report.photos, report.groups = file_strangers(album, place, report.photos, distance)
    save_state(place, report.photos)
    place.write(REPORT_FILE, report_csv(report).encode("utf-8"))
    return report


def _file(
    place: Destination, path: Path, key: str, status: os.stat_result | None, classifier: Classifier
) -> SortedPhoto:
    size, mtime_ns = (status.st_size, status.st_mtime_ns) if status else (0, 0)
    try:
        data = photo_file_bytes(path)
        faces = classifier.classify(data).faces
    except ImageError as exc:
        return SortedPhoto(key, size, mtime_ns, error=str(exc))
    people, unknown = people_in(faces)
    vectors = [face.features for face in faces if face.person is None]
    if unknown and all(vector is not None for vector in vectors):
        # Filed under unknown/ once every unknown face of the run is grouped (file_strangers).
        folders = (*(folder_name(person) for person in people), UNKNOWN)
        encoded = tuple(encode_vector(vector) for vector in vectors)
    else:
        folders, encoded = folders_for(people, unknown), ()
    files = tuple(
        place.copy(data, folder, path.name) for folder in folders if not encoded or folder != UNKNOWN
    )
    return SortedPhoto(key, size, mtime_ns, people, unknown, None, folders, encoded, files)


def _relative(album: Path, path: Path) -> str:
    return path.relative_to(album).as_posix()
