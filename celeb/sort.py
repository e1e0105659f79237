"""Sort an album: file every photo under the people found in it.

``DEST/<person>/`` for each known person in a photo (a photo of two known
people goes in both), ``DEST/unknown/`` for a photo with a face the model
cannot name, ``DEST/no face/`` for a photo without a face. Photos are copied,
never moved: the album stays as it was.

Nothing is lost: the album (SRC) is only read, and it may not overlap DEST in
any way (the same folder, one inside the other, through links). Every folder
sort writes in is checked to be a real folder inside DEST (a link, to the album
or elsewhere, is refused); a copy takes its name atomically, never replacing a
file (another photo of that name gets a number); the only files ever removed
are copies sort made itself (recorded in the state file with their size and
time) that a regrouping left behind in ``DEST/unknown/``.

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
folders it went to. A run holds a lock on DEST (where the system has ``flock``)
and starts by removing the temporary files a killed run left there.

>>> folder_name("Lionel Messi"), folder_name('a:b?"c'), folder_name("unknown")
('Lionel Messi', 'a_b__c', 'unknown (person)')
"""

from __future__ import annotations

import base64
import contextlib
import csv
import errno
import io
import json
import os
import re
import stat
import tempfile
import threading
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from .classify import Classifier, FacePrediction
from .errors import CelebError, ImageError
from .images import image_files, photo_file_bytes
from .limits import usable_cores
from .storage import remove_stale_temporaries
from .strangers import Group, UnknownFace, group_unknown, grouping_distance

UNKNOWN = "unknown"
NO_FACE = "no face"
STATE_FILE = ".celeb-sort.json"
REPORT_FILE = "sorted.csv"
#: The state is saved after this many photos, so an interrupted run loses at most these.
SAVE_EVERY = 25
#: The temporary files sort writes its copies, state and report through, before they take their name.
TEMPORARY_PREFIX, TEMPORARY_SUFFIX = ".celeb-sort-", ".tmp"

Progress = Callable[[int, int], None]


class SortError(CelebError):
    """The album or the destination cannot be used (the message says why)."""


class SortUsageError(SortError):
    """The places named cannot be sorted from or into: the album is not a folder, the destination
    is a file, or the two overlap (the command line's exit status 2)."""


class DestinationError(SortError):
    """The destination cannot be written (read-only, full, no permission, a link where a folder
    should be, another sort writing there). What was filed stays, and a rerun resumes."""


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

    Raises :class:`SortUsageError` when ``album`` is not a folder or the two overlap (see
    :func:`check_places`), :class:`DestinationError` when ``dest`` cannot be written; what was
    filed until then is recorded as far as ``dest`` allows, and a rerun resumes.
    """
    album, dest = Path(album), Path(dest)
    check_places(album, dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot_write(dest, exc) from exc
    with _only_sort_in(dest) as locked:
        _remove_temporaries(dest, any_age=locked)
        state = _load_state(dest / STATE_FILE)
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
            if finished % SAVE_EVERY == 0:
                place.save_state(results.values())
            if progress:
                progress(finished, total)
    except BaseException:
        pool.shutdown(cancel_futures=True)  # the photos not started yet wait for the next run
        with contextlib.suppress(SortError):
            place.save_state(results.values())  # what was filed, if the destination takes it
        raise
    pool.shutdown()
    report.photos = [results[_relative(album, path)] for path in files]
    report.classified_now = total
    report.photos, report.groups = file_strangers(album, place, report.photos, distance)
    place.save_state(report.photos)
    place.write(REPORT_FILE, report_csv(report).encode("utf-8"))
    return report


def check_places(album: Path, dest: Path) -> None:
    """Raise :class:`SortUsageError` unless ``album`` is a folder, ``dest`` is a folder or not made
    yet, and neither is the other or inside it, however they are named (links, a case-insensitive
    file system, a bind mount): sort only reads the album, and writes and removes files in
    ``dest``. A link in ``dest`` (where sort writes) into the album is refused too."""
    album, dest = Path(album), Path(dest)
    if not album.is_dir():
        raise SortUsageError(f"{_shown(album)} is not a folder")
    if dest.exists() and not dest.is_dir():
        raise SortUsageError(f"{_shown(dest)} is not a folder")
    if _inside(dest, album):
        raise SortUsageError(
            "the destination must not be the album or inside it (the album is only read, "
            "and the destination would be sorted again next time)"
        )
    if _inside(album, dest):
        raise SortUsageError(
            "the album must not be inside the destination (sort writes and removes files there; "
            "the album is only read)"
        )
    for folder in (dest, dest / UNKNOWN):
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder):
                if entry.is_symlink() and _inside(Path(entry.path), album):
                    raise SortUsageError(f"{_shown(Path(entry.path))} is a link into the album")


def _inside(inner: Path, outer: Path) -> bool:
    """Whether ``inner`` is ``outer`` or inside it: by their resolved paths, and by identity (each
    folder ``inner`` is in compared with ``outer``, which catches another spelling of a name)."""
    inner, outer = inner.resolve(), outer.resolve()
    if inner.is_relative_to(outer):
        return True
    try:
        folder = os.stat(outer)
    except OSError:  # not made yet: nothing is inside it
        return False
    for ancestor in (inner, *inner.parents):
        with contextlib.suppress(OSError):
            if os.path.samestat(os.stat(ancestor), folder):
                return True
    return False


@contextlib.contextmanager
def _only_sort_in(dest: Path) -> Iterator[bool]:
    """Hold a lock on ``dest`` while sorting into it (True), so that two runs never write there at
    once; False where the system has no such lock (then only stale temporaries are removed)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield False
        return
    try:
        handle = os.open(dest, os.O_RDONLY)
    except OSError as exc:
        raise _cannot_write(dest, exc) from exc
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked = True
        except BlockingIOError:
            raise DestinationError(f"another sort is writing in {_shown(dest)}: wait for it to end") from None
        except OSError:  # a file system without locks
            locked = False
        yield locked
    finally:
        os.close(handle)  # releases the lock


def _remove_temporaries(dest: Path, any_age: bool) -> None:
    """Remove what killed writes left in ``dest`` (never elsewhere): sort's own temporary files,
    of any age when this run holds the lock on ``dest``, and write_atomic's once they are stale."""
    if any_age:
        for folder, _, names in os.walk(dest):  # never follows a link
            for name in names:
                if name.startswith(TEMPORARY_PREFIX) and name.endswith(TEMPORARY_SUFFIX):
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(folder, name))
    remove_stale_temporaries(dest)


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
                _valid_text(photo.path),
                _valid_text("; ".join(photo.people)),
                photo.unknown_faces,
                _valid_text("; ".join(photo.folders)),
                _valid_text(photo.error or ""),
            ]
        )
    return out.getvalue()


def _valid_text(text: str) -> str:
    r"""``text`` with a file name's undecodable bytes (surrogate escapes) as ``\xNN``.

    >>> _valid_text(os.fsdecode(b"caf\xe9.jpg")), _valid_text("café")
    ('caf\\xe9.jpg', 'café')
    """
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _shown(path: Path) -> str:
    return _valid_text(str(path))


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
        unknown_folders = [folder for folder in photo.folders if _in_unknown(folder)]
        if unknown_folders:
            elsewhere = tuple(file for file in photo.files if not _in_unknown(file))
            try:
                data = photo_file_bytes(album / photo.path)
            except ImageError:  # cannot be read now: its copies stay where they were
                copies = tuple(file for file in photo.files if _in_unknown(file))
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
            folders = tuple(folder for folder in photo.folders if not _in_unknown(folder))
            photo = replace(photo, folders=folders + tuple(where.get(photo.path, [UNKNOWN])))
        filed.append(photo)
    return filed, groups


def _relative(album: Path, path: Path) -> str:
    return path.relative_to(album).as_posix()


@dataclass
class _State:
    photos: dict[str, SortedPhoto] = field(default_factory=dict)
    written: dict[str, tuple[int, int]] = field(default_factory=dict)


def _load_state(path: Path) -> _State:
    """What an earlier run recorded (nothing when there is no record or it is damaged)."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        photos = [
            SortedPhoto(
                **{
                    **r,
                    "people": tuple(r["people"]),
                    "folders": tuple(r["folders"]),
                    "unknown_vectors": tuple(r.get("unknown_vectors", ())),
                    "files": tuple(r.get("files", ())),
                }
            )
            for r in state["photos"]
        ]
        written = {
            str(name): (int(size), int(mtime)) for name, (size, mtime) in state.get("written", {}).items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return _State()
    return _State({photo.path: photo for photo in photos}, written)


class Destination:
    """The destination folder, the one place sort writes in, with the copies it made there.

    Every folder written in is first checked to be a real folder inside the destination, each
    part of its path (a link, to the album or anywhere else, is refused before anything is made
    through it). Files are written under a short temporary name and then take their name
    atomically: a copy never replaces a file. The only files ever removed are copies sort made
    (``written``: their path inside the destination, size and modification time) that are
    unchanged since. Every failure to write is a :class:`DestinationError`.
    """

    def __init__(self, album: Path, root: Path, written: dict[str, tuple[int, int]] | None = None) -> None:
        self.album = Path(album)
        self.root = Path(root)  # as named (only the folders inside it are checked, part by part)
        self.written = dict(written or {})
        self._lock = threading.Lock()
        self._checked: set[str] = {""}

    def check_writable(self) -> None:
        """Raise :class:`DestinationError` now, before any photo is classified, when no file can be
        made in the destination."""
        try:
            os.unlink(self._stage(self.root, b""))
        except OSError as exc:
            raise _cannot_write(self.root, exc) from exc

    def folder(self, relative: str, make: bool = True) -> Path:
        """The folder ``relative`` ("Ann", "unknown/group-01") inside the destination, made when
        missing; each part must be a real folder (not a link), or nothing is written through it."""
        path = self.root / relative
        with self._lock:
            if relative in self._checked:
                return path
        walked = self.root
        for part in Path(relative).parts:
            walked = walked / part
            if part in ("", ".", ".."):
                raise DestinationError(f"{_shown(path)} is not a folder name sort writes in")
            try:
                if make:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(walked)
                info = os.lstat(walked)
            except OSError as exc:
                raise _cannot_write(walked, exc) from exc
            if stat.S_ISLNK(info.st_mode) and _inside(walked, self.album):
                raise SortUsageError(f"{_shown(walked)} is a link into the album")
            if not stat.S_ISDIR(info.st_mode):
                kind = "a link" if stat.S_ISLNK(info.st_mode) else "a file"
                raise DestinationError(f"{_shown(walked)} is {kind}: sort writes only in folders")
        with self._lock:
            self._checked.add(relative)
        return path

    def copy(self, data: bytes, relative_folder: str, name: str) -> str:
        """Write the photo into the folder as ``name`` (shortened to fit the file system, its suffix
        kept); the same photo there already is kept (an earlier run's copy), another file of that
        name makes it take the next number. Returns the copy's path inside the destination."""
        folder = self.folder(relative_folder)
        limit = _name_limit(folder)
        staged: Path | None = None
        number = 1
        try:
            while number < 10_000:
                target = folder / _numbered(name, number, limit)
                if _holds(target, data):
                    return f"{relative_folder}/{target.name}"
                if not os.path.lexists(target):
                    staged = staged or self._stage(folder, data)
                    try:
                        _claim(staged, target)
                    except FileExistsError:
                        continue  # taken meanwhile (another worker): the same photo, or the next number
                    except OSError as exc:
                        if exc.errno == errno.ENAMETOOLONG and limit > 32:
                            limit //= 2  # a file system allowing shorter names than it says
                            continue
                        raise
                    self._record(f"{relative_folder}/{target.name}", target)
                    return f"{relative_folder}/{target.name}"
                number += 1
        except OSError as exc:
            raise _cannot_write(folder, exc) from exc
        finally:
            if staged is not None:
                with contextlib.suppress(OSError):
                    staged.unlink(missing_ok=True)
        raise DestinationError(f"too many photos named {_valid_text(name)} in {_shown(folder)}")

    def write(self, name: str, data: bytes) -> None:
        """Write the file ``name`` at the top of the destination (the state, the report): it holds
        either the old or the new bytes."""
        staged = self._stage(self.root, data)
        try:
            os.replace(staged, self.root / name)
        except OSError as exc:
            with contextlib.suppress(OSError):
                staged.unlink(missing_ok=True)
            raise _cannot_write(self.root, exc) from exc

    def save_state(self, photos: Iterable[SortedPhoto]) -> None:
        """Record what each photo gave and the copies made (JSON in ASCII: a file name's undecodable
        bytes are kept as ``\\udcNN`` escapes, read back as the same name)."""
        with self._lock:
            written = {name: list(stamp) for name, stamp in sorted(self.written.items())}
        state = {"version": 2, "photos": [asdict(photo) for photo in photos], "written": written}
        self.write(STATE_FILE, json.dumps(state, ensure_ascii=True, indent=0).encode("ascii"))

    def remove_stale(self, relative_folder: str, kept: set[str]) -> None:
        """Remove the copies sort made under ``relative_folder`` that are not in ``kept`` and are
        unchanged since it made them, then the folders that leaves empty. A file sort did not make,
        or changed since, is never touched (and forgotten as a copy of sort's)."""
        with self._lock:
            candidates = sorted(
                name for name in self.written if name.startswith(f"{relative_folder}/") and name not in kept
            )
        for name in candidates:
            parent, _, _ = name.rpartition("/")
            path = self.root / name
            try:
                self.folder(parent, make=False)
                info = os.lstat(path)
            except (OSError, DestinationError):
                info = None
            with self._lock:
                recorded = self.written.pop(name)
            if info is None or not stat.S_ISREG(info.st_mode) or (info.st_size, info.st_mtime_ns) != recorded:
                continue
            try:
                path.unlink()
            except OSError as exc:
                raise _cannot_write(path.parent, exc) from exc
            for folder in (path.parent, *path.parent.parents):
                if folder == self.root / relative_folder or not folder.is_relative_to(self.root):
                    break
                try:
                    folder.rmdir()  # only when empty
                except OSError:
                    break
                with self._lock:
                    self._checked.discard(folder.relative_to(self.root).as_posix())

    def _stage(self, folder: Path, data: bytes) -> Path:
        """``data`` written and synced under a short temporary name in ``folder`` (a name made from
        the photo's could be too long)."""
        try:
            handle, temporary = tempfile.mkstemp(dir=folder, prefix=TEMPORARY_PREFIX, suffix=TEMPORARY_SUFFIX)
        except OSError as exc:
            raise _cannot_write(folder, exc) from exc
        try:
            os.chmod(temporary, 0o644)  # mkstemp makes 0600; others may read the photos
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
        except OSError as exc:
            Path(temporary).unlink(missing_ok=True)
            raise _cannot_write(folder, exc) from exc
        return Path(temporary)

    def _record(self, name: str, path: Path) -> None:
        info = os.lstat(path)
        with self._lock:
            self.written[name] = (info.st_size, info.st_mtime_ns)


def _claim(staged: Path, target: Path) -> None:
    """Give the staged file the name ``target``, atomically and only if no file has it (raises
    FileExistsError otherwise): a hard link, or where the file system has none, an empty file made
    exclusively and then replaced."""
    try:
        os.link(staged, target)
        return
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK):
            raise
    handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    os.close(handle)
    os.replace(staged, target)


def _holds(path: Path, data: bytes) -> bool:
    """Whether ``path`` is a regular file (not a link) holding ``data``."""
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size != len(data):
            return False
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        flags |= getattr(os, "O_BINARY", 0)
        with os.fdopen(os.open(path, flags), "rb") as file:
            return file.read(len(data) + 1) == data
    except OSError:
        return False


def _name_limit(folder: Path) -> int:
    """The longest file name (in bytes) the file system of ``folder`` takes."""
    try:
        return min(int(os.pathconf(folder, "PC_NAME_MAX")), 255)
    except (OSError, ValueError, AttributeError):
        return 255


def _numbered(name: str, number: int, limit: int = 255) -> str:
    """``name``, or from 2 on ``stem (number).suffix``, its stem cut (at a character) so that the
    name fits in ``limit`` bytes.

    >>> _numbered("IMG_1.jpg", 1), _numbered("IMG_1.jpg", 2), _numbered("abcdef.jpg", 3, 12)
    ('IMG_1.jpg', 'IMG_1 (2).jpg', 'abcd (3).jpg')
    """
    stem, suffix = Path(name).stem, Path(name).suffix
    if _size(suffix) > limit // 2:
        stem, suffix = name, ""
    tail = (f" ({number})" if number > 1 else "") + suffix
    budget = limit - _size(tail)
    while _size(stem) > budget:
        stem = stem[:-1]
    return stem + tail


def _size(text: str) -> int:
    return len(os.fsencode(text))


def _cannot_write(path: Path, exc: OSError) -> DestinationError:
    return DestinationError(f"cannot write in {_shown(path)}: {exc.strerror or exc}")
