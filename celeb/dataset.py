"""The dataset on disk: people, their photos, and the face crops made from them.

Layout under the dataset folder::

    manifest.json            every person, photo and crop, and each crop's status
    <slug>/photos/<hash>.<ext>
    <slug>/crops/<crop id>.png
    .cache/features-<key>.npz

The manifest is the single source of truth. Every change takes an exclusive
file lock, reads the manifest, changes it and replaces it atomically, so two
browser tabs (or the app and the CLI) never lose each other's changes, and an
interrupted job leaves the previous state whole. Files are written before
the manifest names them; a file no record names is ignored.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import stat
import time
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
from filelock import FileLock

from .config import DECODE_MAX_SIDE, IMAGE_SUFFIXES, MAX_MANIFEST_BYTES, MAX_ZIP_BYTES, MAX_ZIP_MEMBERS
from .engines import DEFAULT_ENGINE, LEGACY_ENGINE, Engine, get_engine
from .errors import DatasetError, ImageError, InvalidNameError, ManifestError, ReadOnlyError
from .features import mirrored
from .images import MAX_FILE_BYTES, read_image
from .storage import FileTooLargeError, clean_up_once, read_regular_file, write_atomic
from .train import TrainingSet

MANIFEST_VERSION = 1
MAX_NAME_LENGTH = 60

KEPT, REJECTED = "kept", "rejected"
#: How often a cropping run records its progress in the manifest.
COMMIT_SECONDS = 1.0
#: A face is compared with this many of its person's faces from other photos (see faces_most_like).
IDENTITY_NEIGHBOURS = 3
SMALLER_FACE = "smaller face in a photo with several faces"
LESS_LIKE = "another face in this photo looks more like this person's other photos"


# ---------------------------------------------------------------- records


@dataclass
class PhotoRecord:
    sha: str
    filename: str  # as the user named it, shown only as text
    stored: str  # path relative to the dataset folder
    added: str
    searched: list[str] = field(default_factory=list)  # engines that looked for faces in it
    faces_found: dict[str, int] = field(default_factory=dict)  # per engine
    source: str = ""  # the web address it was downloaded from, if any


@dataclass
class CropRecord:
    id: str
    photo: str  # sha of the source photo
    box: list[int]  # x, y, w, h in the source photo
    clean: bool
    rank: int  # 0 is the photo's largest face
    status: str = KEPT
    reason: str = ""  # why it is rejected: "by you", or what automatic cleaning saw
    engine: str = LEGACY_ENGINE  # the engine that found and cropped it (none recorded: classic)
    auto: bool = True  # its status is automatic cleaning's; False once the user has chosen


@dataclass
class PersonRecord:
    name: str
    slug: str
    photos: dict[str, PhotoRecord] = field(default_factory=dict)
    crops: dict[str, CropRecord] = field(default_factory=dict)


@dataclass(frozen=True)
class PersonSummary:
    name: str
    slug: str
    photos: int
    unprocessed: int
    kept: int
    rejected: int


@dataclass(frozen=True)
class Crop:
    """A crop as callers see it: its record, its person, its file."""

    person: str
    record: CropRecord
    path: Path
    photo_path: Path
    photo_filename: str


@dataclass
class AddReport:
    """What an import did, file by file."""

    added: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)

    def merge(self, other: AddReport) -> AddReport:
        self.added += other.added
        self.skipped += other.skipped
        return self

    def summary(self) -> str:
        return f"{len(self.added)} added, {len(self.skipped)} skipped"


@dataclass(frozen=True)
class CropReport:
    photos: int
    faces: int
    clean_faces: int
    kept: int


# ---------------------------------------------------------------- names


def validate_name(name: str) -> str:
    """The name as it will be stored (trimmed), or :class:`InvalidNameError`.

    >>> validate_name("  Serena Williams ")
    'Serena Williams'
    >>> validate_name("   ")
    Traceback (most recent call last):
    ...
    celeb.errors.InvalidNameError: a name cannot be empty
    """
    if not isinstance(name, str):
        raise InvalidNameError("a name must be text")
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise InvalidNameError("a name cannot be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(f"a name can have at most {MAX_NAME_LENGTH} characters")
    if "/" in name or "\\" in name:
        raise InvalidNameError("a name cannot contain '/' or '\\'")
    # Control (Cc), format (Cf: zero-width, bidi overrides) and unassigned characters, and the
    # line and paragraph separators U+2028/U+2029 (Zl, Zp): a name is one line of visible text.
    if any(unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp") for ch in name):
        raise InvalidNameError("a name cannot contain control or invisible characters")
    if name.strip(".") == "":
        raise InvalidNameError("a name cannot be only dots")
    return name


def display_name(folder_name: str) -> str:
    """A person's name from a folder name written as an identifier; other names stay as they are.

    >>> display_name("lionel_messi"), display_name("serena-williams"), display_name("Virat Kohli")
    ('Lionel Messi', 'Serena Williams', 'Virat Kohli')
    >>> display_name("McEnroe_John"), display_name("li_na_2")
    ('McEnroe_John', 'Li Na 2')
    """
    if " " in folder_name or folder_name != folder_name.lower() or not re.search(r"[_-]", folder_name):
        return folder_name
    return " ".join(word.capitalize() for word in re.split(r"[_-]+", folder_name) if word) or folder_name


def same_person(a: str, b: str) -> bool:
    """Whether two names name the same person: case, underscores and spacing aside.

    A model trained on folders named ``lionel_messi`` knows the person a user adds as
    "Lionel Messi".

    >>> same_person("lionel_messi", "Lionel  Messi"), same_person("Ann", "Anna")
    (True, False)
    """
    return person_key(a) == person_key(b)


def person_key(name: str) -> str:
    """What :func:`same_person` compares."""
    return " ".join(re.split(r"[\s_-]+", unicodedata.normalize("NFC", name).casefold())).strip()


def slugify(name: str) -> str:
    """A folder name made of ``[a-z0-9_]`` for a person name.

    >>> slugify("Novak Đoković"), slugify("李娜")
    ('novak_okovic', 'person')
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")[:40]
    return slug or "person"


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- atomic files


def encode_png(rgb: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise DatasetError("could not encode a crop as PNG")
    return buffer.tobytes()


def decode_png(path: Path) -> np.ndarray:
    """A crop file as RGB; DatasetError when it is missing, not a file, or damaged."""
    try:
        raw = read_regular_file(path, MAX_FILE_BYTES)
    except FileNotFoundError as exc:
        raise DatasetError(f"the crop file {path.name} is missing") from exc
    except OSError as exc:
        raise DatasetError(f"the crop file {path.name} cannot be read ({exc.strerror or exc})") from exc
    bgr = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR) if raw else None
    if bgr is None:
        raise DatasetError(f"the crop file {path.name} is damaged")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# ---------------------------------------------------------------- review images

#: Side of the square image of a face shown for review, and the margin around the face box
#: (a share of its width and height, each side): the whole face with some hair and chin.
REVIEW_SIZE = 160
REVIEW_MARGIN = 0.4


def face_view(
    rgb: np.ndarray, box: Sequence[float], size: int = REVIEW_SIZE, margin: float = REVIEW_MARGIN
) -> np.ndarray:
    """A ``size`` x ``size`` image of the face at ``box`` (x, y, w, h in ``rgb``) with ``margin``.

    The square around the face is moved, not cut, where it would leave the
    photo; only a photo smaller than the square cuts it (then it is stretched
    to a square no more than the photo allows: the face stays whole).

    >>> view = face_view(np.zeros((400, 300, 3), np.uint8), (0, 10, 50, 60), size=96)
    >>> view.shape
    (96, 96, 3)
    """
    height, width = rgb.shape[:2]
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1 + 2 * margin)
    side_x, side_y = min(side, width), min(side, height)
    left = min(max(x + w / 2 - side_x / 2, 0.0), width - side_x)
    top = min(max(y + h / 2 - side_y / 2, 0.0), height - side_y)
    x0, y0 = round(left), round(top)
    x1, y1 = max(x0 + 1, min(width, round(left + side_x))), max(y0 + 1, min(height, round(top + side_y)))
    region = rgb[y0:y1, x0:x1]
    shrink = max(region.shape[:2]) > size
    return cv2.resize(region, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def review_image(
    photo_path: Path, box: Sequence[float], crop_path: Path, size: int = REVIEW_SIZE
) -> np.ndarray:
    """What a person reviews a crop by: its whole face (:func:`face_view`) from the source photo,
    read at a reduced size; the crop file itself when the photo is gone or unreadable.

    The crop file stays what the engine computes features from; this is only for eyes.
    DatasetError when neither can be read.
    """
    try:
        photo = read_image(photo_path, max_side=DECODE_MAX_SIDE)
    except ImageError:
        return decode_png(crop_path)
    return face_view(photo.rgb, [v / photo.scale for v in box], size)


# ---------------------------------------------------------------- the store


def faces_most_like(photos: list[np.ndarray]) -> list[int]:
    """For each of one person's photos, the face most like that person's other photos.

    ``photos`` holds, per photo, the identity embeddings of its faces (rows,
    largest first). The person's look comes from their photos with a single
    face (collected for them, so the face is theirs), or, with fewer than
    three of those, from every photo's largest face. A face scores its mean
    distance to its IDENTITY_NEIGHBOURS nearest faces of that look taken from
    other photos; the lowest score wins. With no look to compare with, the
    largest face (0) wins, as for the classic engine.

    >>> ann = np.array([1.0, 0.0])
    >>> photos = [ann[None], ann[None] + 0.01, ann[None] - 0.01, np.array([[0.0, 1.0], [0.99, 0.0]])]
    >>> faces_most_like(photos)
    [0, 0, 0, 1]
    """
    singles = [i for i, faces in enumerate(photos) if len(faces) == 1]
    sources = singles if len(singles) >= 3 else [i for i, faces in enumerate(photos) if len(faces)]
    choices = []
    for index, faces in enumerate(photos):
        others = [photos[i][0] for i in sources if i != index]
        if len(faces) < 2 or not others:
            choices.append(0)
            continue
        look = np.stack(others)
        scores = [
            float(np.sort(np.linalg.norm(look - face, axis=1))[:IDENTITY_NEIGHBOURS].mean()) for face in faces
        ]
        choices.append(int(np.argmin(scores)))
    return choices


class DatasetStore:
    """People, photos and crops in one folder; safe for several processes.

    >>> import tempfile
    >>> store = DatasetStore(tempfile.mkdtemp())
    >>> store.add_person("Roger Federer").slug
    'roger_federer'
    >>> [p.name for p in store.people()]
    ['Roger Federer']

    Opened with ``read_only=True`` it can be read and trained on, and every
    change raises :class:`ReadOnlyError` before anything is written:

    >>> DatasetStore(store.root, read_only=True).add_person("Serena Williams")
    Traceback (most recent call last):
    ...
    celeb.errors.ReadOnlyError: the dataset is read-only here: only its owner can change it
    """

    def __init__(self, root: str | Path, *, read_only: bool = False) -> None:
        self.root = Path(root)
        self.read_only = read_only
        if not read_only:
            self.root.mkdir(parents=True, exist_ok=True)
            clean_up_once(self.root)
        self.manifest_path = self.root / "manifest.json"
        self._lock = FileLock(str(self.root / ".lock"), timeout=60)
        self._engines: dict[str, Engine] = {}

    def engine(self, name: str = DEFAULT_ENGINE) -> Engine:
        """The engine ``name`` with its default settings (EngineUnavailable when not installed)."""
        if name not in self._engines:
            self._engines[name] = get_engine(name)
        return self._engines[name]

    # -- reading

    def people(self, engine: str = DEFAULT_ENGINE) -> list[PersonSummary]:
        """Every person with counts (of ``engine``'s crops), in name order."""
        return [
            PersonSummary(
                name=p.name,
                slug=p.slug,
                photos=len(p.photos),
                unprocessed=sum(engine not in ph.searched for ph in p.photos.values()),
                kept=sum(c.status == KEPT and c.engine == engine for c in p.crops.values()),
                rejected=sum(c.status == REJECTED and c.engine == engine for c in p.crops.values()),
            )
            for p in sorted(self._load().values(), key=lambda p: p.name.casefold())
        ]

    def crops(self, name: str, status: str | None = None, engine: str = DEFAULT_ENGINE) -> list[Crop]:
        """A person's crops by ``engine`` (optionally only kept or rejected), photo by photo."""
        person = self._person(self._load(), name)
        return [
            self._crop_view(person, crop)
            for crop in sorted(
                person.crops.values(), key=lambda c: (person.photos[c.photo].added, c.photo, c.rank)
            )
            if crop.engine == engine and (status is None or crop.status == status)
        ]

    def crop(self, crop_id: str) -> Crop:
        for person in self._load().values():
            if crop_id in person.crops:
                return self._crop_view(person, person.crops[crop_id])
        raise DatasetError(f"no crop {crop_id!r} in the dataset")

    def photo_path(self, name: str, sha: str) -> Path:
        person = self._person(self._load(), name)
        if sha not in person.photos:
            raise DatasetError(f"{name} has no such photo")
        return self.root / person.photos[sha].stored

    # -- people

    def add_person(self, name: str) -> PersonSummary:
        name = validate_name(name)
        with self._edit() as people:
            if self._find(people, name) is not None:
                raise InvalidNameError(f"there is already a person called {name!r}")
            slug = self._free_slug(people, slugify(name))
            people[slug] = PersonRecord(name=name, slug=slug)
        return next(p for p in self.people() if p.slug == slug)

    def rename_person(self, name: str, new_name: str) -> None:
        new_name = validate_name(new_name)
        with self._edit() as people:
            person = self._person(people, name)
            other = self._find(people, new_name)
            if other is not None and other is not person:
                raise InvalidNameError(f"there is already a person called {new_name!r}")
            person.name = new_name

    def delete_person(self, name: str) -> None:
        """Remove a person with all their photos and crops."""
        with self._edit() as people:
            slug = self._person(people, name).slug
            del people[slug]
        # The manifest no longer names the folder; removing it can fail or be
        # interrupted without harm. The slug is a plain folder name (checked on
        # load), and a folder that is a link to elsewhere is not followed.
        folder = self.root / slug
        if folder.is_symlink():
            folder.unlink(missing_ok=True)  # the link goes, never what it points at
        elif folder.resolve().parent == self.root.resolve():
            shutil.rmtree(folder, ignore_errors=True)

    # -- photos

    def imported_urls(self) -> dict[str, str]:
        """Web addresses photos were downloaded from, with the person each went to."""
        return {
            photo.source: person.name
            for person in self._load().values()
            for photo in person.photos.values()
            if photo.source
        }

    def add_photo(self, name: str, data: bytes, filename: str, source: str = "") -> AddReport:
        """Add one photo's bytes; the same content twice is a no-op. ``source``: its web address."""
        self._require_writable()
        shown = PurePosixPath(filename.replace("\\", "/")).name or "photo"
        try:
            photo = read_image(data, max_side=DECODE_MAX_SIDE)
        except ImageError as exc:
            return AddReport(skipped=[(shown, str(exc))])
        sha = content_hash(data)
        suffix = "." + (photo.format.lower().replace("jpeg", "jpg").replace("mpo", "jpg") or "img")
        with self._edit() as people:
            person = self._person(people, name)
            for other in people.values():
                if sha in other.photos:
                    where = "already added" if other is person else f"already added to {other.name}"
                    return AddReport(skipped=[(shown, f"the same photo is {where}")])
            stored = f"{person.slug}/photos/{sha[:20]}{suffix}"
            write_atomic(self.root / stored, data)
            person.photos[sha] = PhotoRecord(
                sha=sha, filename=shown, stored=stored, added=_now(), source=source
            )
        return AddReport(added=[shown])

    def add_files(self, name: str, paths: Iterable[Path]) -> AddReport:
        """Add photos from files (a folder's contents, say)."""
        self._require_writable()
        report = AddReport()
        for path in paths:
            path = Path(path)
            if path.is_dir() or path.name.startswith("."):
                continue
            try:
                # Regular files only, at most the limit + 1 bytes: a FIFO named x.jpg, a link to
                # /dev/zero or a sparse 3 GB file is skipped, never waited on or read whole.
                data = read_regular_file(path, MAX_FILE_BYTES)
            except FileTooLargeError as exc:
                report.skipped.append((path.name, exc.strerror))
                continue
            except OSError as exc:
                report.skipped.append((path.name, f"cannot be read ({exc.strerror or exc})"))
                continue
            report.merge(self.add_photo(name, data, path.name))
        return report

    def add_zip(self, name: str, source: bytes | Path) -> AddReport:
        """Add every photo in a zip; hostile or non-image entries are reported."""
        self._require_writable()
        report = AddReport()
        with _open_zip(source) as archive:
            for entry in _zip_files(archive):
                data, why = _read_zip_entry(archive, entry)
                if data is None:
                    report.skipped.append((entry.filename, why))
                else:
                    report.merge(self.add_photo(name, data, entry.filename))
        return report

    def import_zip_folders(
        self, source: bytes | Path, progress: Callable[[int, int], None] | None = None
    ) -> dict[str, AddReport]:
        """Add a zip that holds one folder of photos per person (see :func:`people_in_paths`).

        People are added as needed (``lionel_messi`` becomes "Lionel Messi"; a
        person already there, whatever the case, gets the photos). Returns what
        happened per person; entries that are in no person's folder, or refused
        (see ``add_zip``), are reported under "".
        """
        self._require_writable()
        reports: dict[str, AddReport] = {}
        with _open_zip(source) as archive:
            entries = _zip_files(archive)
            usable = [entry for entry in entries if not _zip_read_problem(entry)]
            groups, outside = people_in_paths([entry.filename for entry in usable])
            refused = [(e.filename, _zip_read_problem(e)) for e in entries if _zip_read_problem(e)]
            if refused or outside:
                reports[""] = AddReport(skipped=refused + outside)
            total, done = sum(len(indices) for indices in groups.values()), 0
            for folder_name, indices in groups.items():
                name = self._person_for_folder(folder_name)
                report = reports.setdefault(name, AddReport())
                for index in indices:
                    entry = usable[index]
                    data, why = _read_zip_entry(archive, entry)
                    if data is None:
                        report.skipped.append((entry.filename, why))
                    else:
                        report.merge(self.add_photo(name, data, entry.filename))
                    done += 1
                    if progress:
                        progress(done, total)
        return reports

    def import_named_files(
        self, files: Sequence[tuple[str, bytes]], progress: Callable[[int, int], None] | None = None
    ) -> dict[str, AddReport]:
        """Add files named by their path in a folder of people folders (a browser's folder upload).

        Like :meth:`import_zip_folders`, with (relative path, bytes) pairs.
        """
        self._require_writable()
        reports: dict[str, AddReport] = {}
        refused = [(path, _path_problem(path)) for path, _ in files if _path_problem(path)]
        usable = [(path, data) for path, data in files if not _path_problem(path)]
        groups, outside = people_in_paths([path for path, _ in usable])
        if refused or outside:
            reports[""] = AddReport(skipped=refused + outside)
        total, done = sum(len(indices) for indices in groups.values()), 0
        for folder_name, indices in groups.items():
            name = self._person_for_folder(folder_name)
            report = reports.setdefault(name, AddReport())
            for index in indices:
                path, data = usable[index]
                if len(data) > MAX_FILE_BYTES:
                    report.skipped.append((path, f"{len(data) / 2**20:.0f} MB, over the limit for one photo"))
                else:
                    report.merge(self.add_photo(name, data, path))
                done += 1
                if progress:
                    progress(done, total)
        return reports

    def _person_for_folder(self, name: str) -> str:
        """The person a folder's photos go to: one already there (same_person), or a new one."""
        existing = self._find(self._load(), name)
        return existing.name if existing else self.add_person(name).name

    def import_folders(self, root: Path) -> AddReport:
        """Add a folder that holds one sub-folder of photos per person."""
        self._require_writable()
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"{root} is not a folder")
        report = AddReport()
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                name = validate_name(display_name(folder.name))
            except InvalidNameError as exc:
                report.skipped.append((folder.name, str(exc)))
                continue
            name = self._person_for_folder(name)
            report.merge(self.add_files(name, sorted(folder.iterdir())))
        return report

    # -- cropping

    def find_faces(
        self,
        names: list[str] | None = None,
        *,
        engine: str = DEFAULT_ENGINE,
        progress: Callable[[int, int], None] | None = None,
        workers: int | None = None,
    ) -> CropReport:
        """Detect and crop faces, with ``engine``, in every photo it has not searched yet.

        Photos are processed outside the lock and committed about every
        second: an interrupted run keeps what it committed, and a crop the
        user rejected never comes back, since a processed photo is never redone.
        """
        self._require_writable()
        finder = self.engine(engine)
        people = self._load()
        wanted = {self._person(people, n).slug for n in names} if names else set(people)
        todo = [
            (slug, photo)
            for slug, person in people.items()
            if slug in wanted
            for photo in person.photos.values()
            if engine not in photo.searched
        ]
        faces = clean = 0
        batch: list[tuple[str, PhotoRecord, list[CropRecord]]] = []
        last_commit = time.monotonic()
        workers = workers or min(4, os.cpu_count() or 1)
        # Identity engines describe each face as it is cropped: the cleaning
        # below needs it, and training later finds it cached.
        cache = self._feature_cache(finder) if finder.open_set else None
        touched: set[str] = set()  # people with committed photos
        pool = ThreadPoolExecutor(max_workers=workers)
        try:
            crops = pool.map(lambda job: self._crop_photo(finder, job, describe=cache is not None), todo)
            for done, (slug, photo, records, vectors) in enumerate(crops, start=1):
                batch.append((slug, photo, records))
                for crop_id, vector in vectors.items():
                    cache.put(crop_id, vector)
                if done == len(todo) or time.monotonic() - last_commit > COMMIT_SECONDS:
                    # Rewriting the manifest per photo would cost more than the detection.
                    committed = self._commit_crops(finder.name, batch)
                    touched |= {slug for slug, _, _ in batch}
                    faces += len(committed)
                    clean += sum(r.clean for r in committed)
                    batch, last_commit = [], time.monotonic()
                if progress:
                    progress(done, len(todo))
        except BaseException:
            # Interrupted (a page's rerun, Ctrl-C): stop at once; what was committed stays,
            # with its faces chosen as usual, and the rest is searched next time.
            pool.shutdown(wait=False, cancel_futures=True)
            if cache is not None and touched:
                with contextlib.suppress(Exception):
                    self._choose_faces_by_identity(finder, touched, cache)
            raise
        pool.shutdown()
        if cache is not None:
            self._choose_faces_by_identity(finder, touched, cache)
        searched_now = {photo.sha for _, photo in todo}
        kept = sum(
            crop.status == KEPT and crop.engine == finder.name and crop.photo in searched_now
            for person in self._load().values()
            for crop in person.crops.values()
        )
        return CropReport(photos=len(todo), faces=faces, clean_faces=clean, kept=kept)

    def _choose_faces_by_identity(self, engine: Engine, slugs: set[str], cache: FeatureCache) -> None:
        """In each photo with several faces, keep the one most like the person's other photos.

        Only crops whose status is still automatic cleaning's are changed;
        what the user chose stays.
        """
        people = self._load()
        decisions: dict[str, tuple[str, str]] = {}
        for slug in slugs:
            person = people.get(slug)
            if person is None:
                continue
            by_photo: dict[str, list[CropRecord]] = {}
            for crop in sorted(person.crops.values(), key=lambda c: c.rank):
                # A face the user rejected is not this person's look: leave it out entirely.
                if crop.engine == engine.name and (crop.auto or crop.status == KEPT):
                    by_photo.setdefault(crop.photo, []).append(crop)
            user_chose = {c.photo for c in person.crops.values() if c.engine == engine.name and not c.auto}
            if not any(len(crops) > 1 for crops in by_photo.values()):
                continue
            groups = list(by_photo.values())
            embeddings = [np.stack([self._vector(engine, cache, slug, c) for c in crops]) for crops in groups]
            for crops, choice in zip(groups, faces_most_like(embeddings), strict=True):
                if len(crops) < 2 or crops[0].photo in user_chose:
                    continue
                for index, crop in enumerate(crops):
                    reason = "" if index == choice else (SMALLER_FACE if choice == 0 else LESS_LIKE)
                    decisions[crop.id] = (KEPT if index == choice else REJECTED, reason)
        cache.save(keep=set(cache.entries))
        if not decisions:
            return
        with self._edit() as people:
            for person in people.values():
                for crop_id in decisions.keys() & person.crops.keys():
                    crop = person.crops[crop_id]
                    if crop.auto:  # the user may have chosen meanwhile, in another tab
                        crop.status, crop.reason = decisions[crop_id]

    def _vector(self, engine: Engine, cache: FeatureCache, slug: str, crop: CropRecord) -> np.ndarray:
        """A crop's feature vector, from the cache or computed (and cached) now."""
        vectors = cache.get(crop.id)
        if vectors is None:
            vectors = engine.features(decode_png(self._crop_file(slug, crop.id)))[None]
            cache.put(crop.id, vectors)
        return vectors[0]

    def _feature_cache(self, engine: Engine) -> FeatureCache:
        return FeatureCache(self.root / ".cache", {"engine": engine.name, **engine.feature_key()})

    def _crop_photo(
        self, engine: Engine, job: tuple[str, PhotoRecord], describe: bool = False
    ) -> tuple[str, PhotoRecord, list[CropRecord], dict[str, np.ndarray]]:
        """Find a photo's clean faces and write their crop files (not yet in the manifest).

        With ``describe``, also the crops' feature vectors (as FeatureCache keeps them).
        """
        slug, photo = job
        vectors: dict[str, np.ndarray] = {}
        try:
            image = read_image(self.root / photo.stored, max_side=DECODE_MAX_SIDE)
        except (ImageError, OSError):
            return slug, photo, [], vectors
        clean = [face for face in engine.detect(image.rgb) if face.clean]
        # Crop ids of the classic engine keep their old form, so older datasets stay valid; other
        # engines' carry their whole name, so that no two engines' ids can be the same.
        prefix = "" if engine.name == LEGACY_ENGINE else f"{engine.name}-"
        records = []
        for rank, face in enumerate(clean):
            crop_id = f"{photo.sha[:16]}_{prefix}{rank}"
            crop = engine.crop(image.rgb, face)
            write_atomic(self._crop_file(slug, crop_id), encode_png(crop))
            if describe:
                views = [crop, mirrored(crop)] if engine.mirror else [crop]
                vectors[crop_id] = np.stack([engine.features(view) for view in views])
            record = CropRecord(
                id=crop_id,
                photo=photo.sha,
                box=face.box.scaled(image.scale).as_list(),
                clean=face.clean,
                rank=rank,
                engine=engine.name,
            )
            if rank > 0:
                # Automatic cleaning: in a group photo the largest face is the
                # person the photo was collected for; the others are likely not.
                record.status, record.reason = REJECTED, SMALLER_FACE
            records.append(record)
        return slug, photo, records, vectors

    def _commit_crops(
        self, engine: str, batch: list[tuple[str, PhotoRecord, list[CropRecord]]]
    ) -> list[CropRecord]:
        """Record searched photos and their crops; returns the crops recorded."""
        committed = []
        with self._edit() as people:
            for slug, photo, records in batch:
                person = people.get(slug)
                current = person.photos.get(photo.sha) if person else None
                if current is None or engine in current.searched:
                    continue  # deleted meanwhile, or done by another tab
                current.searched.append(engine)
                current.faces_found[engine] = len(records)
                for record in records:
                    person.crops[record.id] = record
                committed += records
        return committed

    # -- curation

    def set_status(self, crop_ids: Iterable[str], status: str) -> None:
        """Reject or restore crops; the choice outlives every later cropping run."""
        if status not in (KEPT, REJECTED):
            raise ValueError(f"status must be {KEPT!r} or {REJECTED!r}")
        ids = set(crop_ids)
        with self._edit() as people:
            for person in people.values():
                for crop_id in ids & person.crops.keys():
                    crop = person.crops[crop_id]
                    crop.status, crop.reason = status, ("by you" if status == REJECTED else "")
                    crop.auto = False

    # -- training data

    def training_set(
        self,
        engine: Engine | None = None,
        *,
        mirror: bool | None = None,
        on_unreadable: Callable[[str], None] | None = None,
    ) -> tuple[TrainingSet, list[str]]:
        """Features of every kept crop of ``engine`` (and mirrored copies), with their crop ids.

        Features are cached per crop and engine settings, so after a few
        rejections only what is new gets computed. ``mirror`` defaults to
        what the engine wants.

        A kept crop whose file is missing or damaged raises DatasetError, or,
        with ``on_unreadable``, is left out and that callback gets a message
        saying which. The CLI and the app leave it out: its photo was searched
        already and is never searched again, so an error would block training
        until the user found and deleted that photo.
        """
        engine = engine or self.engine()
        mirror = engine.mirror if mirror is None else mirror
        crops = [(person.name, person.slug, crop) for person, crop in self._kept(engine.name)]
        cache = self._feature_cache(engine)
        rows, labels, groups, copies, ids = [], [], [], [], []
        for name, slug, crop in crops:
            vectors = cache.get(crop.id)
            # A cached crop must still be on disk: training on a face the dataset no longer holds
            # would make a model nobody can rebuild (identity engines cache while cropping).
            missing = vectors is not None and not self._crop_file(slug, crop.id).is_file()
            if vectors is None or missing:
                try:
                    image = decode_png(self._crop_file(slug, crop.id))
                except DatasetError as exc:
                    if on_unreadable is None:
                        raise DatasetError(f"{exc} (a kept crop of {name})") from exc
                    on_unreadable(f"{exc}: a kept crop of {name} left out")
                    continue
                views = [image, mirrored(image)] if engine.mirror else [image]
                vectors = np.stack([engine.features(view) for view in views])
                cache.put(crop.id, vectors)
            for copy, vector in enumerate(vectors[: 2 if mirror else 1]):
                rows.append(vector)
                labels.append(name)
                groups.append(crop.photo)
                copies.append(bool(copy))
            ids.append(crop.id)
        if not self.read_only:
            cache.save(keep={crop.id for _, _, crop in crops})
        features = np.asarray(rows, dtype=np.float32).reshape(len(rows), engine.feature_length)
        data = TrainingSet(
            features,
            np.asarray(labels, dtype=object),
            np.asarray(groups, dtype=str),
            np.asarray(copies, dtype=bool),
        )
        return data, ids

    def fingerprint(self, engine: str = DEFAULT_ENGINE) -> str:
        """A short hash of what training with ``engine`` would see: people and kept crops."""
        kept = sorted((person.name, crop.id) for person, crop in self._kept(engine))
        return hashlib.sha256(json.dumps(kept).encode()).hexdigest()[:16]

    def kept_photos(self, engine: str = DEFAULT_ENGINE) -> list[tuple[str, str]]:
        """(person, photo sha) of every kept crop of ``engine``: what training uses, without features."""
        return [(person.name, crop.photo) for person, crop in self._kept(engine)]

    def _kept(self, engine: str) -> Iterator[tuple[PersonRecord, CropRecord]]:
        for person in self._load().values():
            for crop in person.crops.values():
                if crop.status == KEPT and crop.engine == engine:
                    yield person, crop

    # -- export

    def export_zip(self) -> bytes:
        """The curated dataset: each person's photos and kept crops, plus the manifest."""
        buffer = io.BytesIO()
        people = self._load()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("manifest.json", _dump(people))
            for person in people.values():
                files = [photo.stored for photo in person.photos.values()]
                kept = [crop for crop in person.crops.values() if crop.status == KEPT]
                files += [f"{person.slug}/crops/{crop.id}.png" for crop in kept]
                for name in files:
                    data = self._dataset_file(name)
                    if data is not None:
                        archive.writestr(name, data)
        return buffer.getvalue()

    def _dataset_file(self, name: str) -> bytes | None:
        """The bytes of the dataset's file ``name``, or None when it is missing or not the dataset's.

        The manifest's paths are plain relative paths (checked on load), but a
        file or folder on the way may be a symbolic link: only what resolves
        inside the dataset folder, and is a regular file, is read.
        """
        path = self.root / name
        try:
            if not path.resolve().is_relative_to(self.root.resolve()):
                return None
            return read_regular_file(path, MAX_FILE_BYTES)
        except OSError:
            return None

    # -- internals

    def _crop_file(self, slug: str, crop_id: str) -> Path:
        return self.root / slug / "crops" / f"{crop_id}.png"

    def _crop_view(self, person: PersonRecord, crop: CropRecord) -> Crop:
        photo = person.photos[crop.photo]
        return Crop(
            person=person.name,
            record=crop,
            path=self._crop_file(person.slug, crop.id),
            photo_path=self.root / photo.stored,
            photo_filename=photo.filename,
        )

    def _require_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError("the dataset is read-only here: only its owner can change it")

    @contextmanager
    def _edit(self) -> Iterator[dict[str, PersonRecord]]:
        self._require_writable()
        with self._lock:
            people = self._load()
            yield people
            write_atomic(self.manifest_path, _dump(people).encode())

    def _load(self) -> dict[str, PersonRecord]:
        try:
            text = read_regular_file(self.manifest_path, MAX_MANIFEST_BYTES).decode("utf-8")
            raw = json.loads(text)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ManifestError(
                f"the dataset manifest {self.manifest_path} is unreadable: {exc.strerror or exc}"
            ) from exc
        except ValueError as exc:  # not UTF-8, not JSON
            raise ManifestError(f"the dataset manifest {self.manifest_path} is unreadable: {exc}") from exc
        if not isinstance(raw, dict) or raw.get("version") != MANIFEST_VERSION:
            version = raw.get("version") if isinstance(raw, dict) else None
            raise ManifestError(f"the dataset manifest has version {version}; expected {MANIFEST_VERSION}")
        try:
            people = {slug: _person_from_json(value) for slug, value in raw["people"].items()}
        except (KeyError, TypeError, AttributeError) as exc:
            raise ManifestError(f"the dataset manifest {self.manifest_path} is damaged ({exc!r})") from exc
        for slug, person in people.items():
            problem = _person_problem(slug, person)
            if problem:
                raise ManifestError(
                    f"the dataset manifest {self.manifest_path} is damaged or crafted, so it is not used: "
                    f"{problem}. Restore it from a backup, or fix or remove that entry."
                )
        return people

    def _find(self, people: dict[str, PersonRecord], name: str) -> PersonRecord | None:
        return next((p for p in people.values() if same_person(p.name, name)), None)

    def _person(self, people: dict[str, PersonRecord], name: str) -> PersonRecord:
        person = self._find(people, name)
        if person is None:
            raise DatasetError(f"there is no person called {name!r}")
        return person

    def _free_slug(self, people: dict[str, PersonRecord], slug: str) -> str:
        candidate, number = slug, 1
        while candidate in people or (self.root / candidate).exists() or candidate.startswith("."):
            number += 1
            candidate = f"{slug}_{number}"
        return candidate


class FeatureCache:
    """Feature vectors of crops for one engine and its settings, in one .npz file."""

    def __init__(self, folder: Path, settings: dict) -> None:
        key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
        self.path = folder / f"features-{key}.npz"
        self.entries: dict[str, np.ndarray] = {}
        self.changed = False
        try:
            with np.load(self.path, allow_pickle=False) as stored:
                self.entries = dict(zip(stored["ids"].tolist(), stored["vectors"], strict=True))
        except (OSError, ValueError, KeyError):
            self.entries = {}  # no cache yet, or a damaged one: it is only a cache

    def get(self, crop_id: str) -> np.ndarray | None:
        return self.entries.get(crop_id)

    def put(self, crop_id: str, vectors: np.ndarray) -> None:
        self.entries[crop_id] = vectors
        self.changed = True

    def save(self, keep: set[str]) -> None:
        stale = self.entries.keys() - keep
        if not self.changed and not stale:
            return
        for crop_id in stale:
            del self.entries[crop_id]
        ids = sorted(self.entries)
        buffer = io.BytesIO()
        vectors = np.stack([self.entries[i] for i in ids]) if ids else np.zeros((0, 2, 0), np.float32)
        np.savez(buffer, ids=np.asarray(ids, dtype=str), vectors=vectors)
        write_atomic(self.path, buffer.getvalue())


# ---------------------------------------------------------------- helpers


def _zip_entry_problem(entry: zipfile.ZipInfo) -> str:
    """Why a zip entry is refused, or "" when it may be read."""
    if stat.S_ISLNK(entry.external_attr >> 16):
        return "it is a symbolic link"
    if entry.flag_bits & 0x1:
        return "it is encrypted"
    return _path_problem(entry.filename)


def _path_problem(name: str) -> str:
    """Why a file named ``name`` (a path in a zip or an uploaded folder) is refused, or ""."""
    name = name.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        return "its path leads outside the folder"
    if any(part.startswith(".") for part in parts) or "__MACOSX" in parts:
        return "hidden or system file"
    if PurePosixPath(name).suffix.lower() not in IMAGE_SUFFIXES:
        return "not an image file (by its name)"
    return ""


def _zip_read_problem(entry: zipfile.ZipInfo) -> str:
    """:func:`_zip_entry_problem`, or that the entry expands beyond the limit for one photo."""
    why = _zip_entry_problem(entry)
    if not why and entry.file_size > MAX_FILE_BYTES:
        why = f"it expands to {entry.file_size / 2**20:.0f} MB, over the limit for one photo"
    return why


def _open_zip(source: bytes | Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"this is not a readable zip file ({exc})") from exc


def _zip_files(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The zip's files (not folders), or DatasetError when there are too many or they expand too much."""
    entries = [e for e in archive.infolist() if not e.is_dir()]
    if len(entries) > MAX_ZIP_MEMBERS:
        raise DatasetError(f"the zip holds {len(entries)} files; at most {MAX_ZIP_MEMBERS} are accepted")
    if sum(e.file_size for e in entries) > MAX_ZIP_BYTES:
        raise DatasetError("the zip expands to more than 2 GB; split it into smaller zips")
    return entries


def _read_zip_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> tuple[bytes | None, str]:
    """The entry's bytes and "", or None and why it is not read."""
    why = _zip_read_problem(entry)
    if why:
        return None, why
    try:
        return archive.read(entry), ""
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError) as exc:
        return None, f"cannot be extracted ({exc})"


def people_in_paths(paths: Sequence[str]) -> tuple[dict[str, list[int]], list[tuple[str, str]]]:
    """Group file paths by the person folder they are in: ``({name: [index in paths]}, [(path, why)])``.

    A file's person is its first folder, named as :func:`display_name` reads
    it; a folder that holds every file and sub-folders (the zipped folder
    itself) is passed over. A file in no sub-folder, or in a folder whose name cannot be a
    person's, is left out with why. Folders naming the same person
    (:func:`same_person`) are one person, named as the first one.

    >>> people_in_paths(["all/lionel_messi/1.jpg", "all/Serena Williams/a/2.jpg", "all/lionel_messi/3.jpg"])
    ({'Lionel Messi': [0, 2], 'Serena Williams': [1]}, [])
    >>> people_in_paths(["ann/1.jpg", "top.jpg"])
    ({'ann': [0]}, [('top.jpg', 'not in a folder named after a person')])
    """
    split = [PurePosixPath(path.replace("\\", "/")).parts for path in paths]
    while (
        split
        and all(len(parts) >= 2 and parts[0] == split[0][0] for parts in split)
        and any(len(parts) >= 3 for parts in split)
    ):
        split = [parts[1:] for parts in split]
    groups: dict[str, list[int]] = {}
    names: dict[str, str] = {}  # person_key -> the name first seen
    outside: list[tuple[str, str]] = []
    for index, parts in enumerate(split):
        if len(parts) < 2:
            outside.append((paths[index], "not in a folder named after a person"))
            continue
        try:
            name = validate_name(display_name(parts[0]))
        except InvalidNameError as exc:
            outside.append((paths[index], f"the folder {parts[0]!r} cannot name a person: {exc}"))
            continue
        name = names.setdefault(person_key(name), name)
        groups.setdefault(name, []).append(index)
    return groups, outside


def preview_zip_people(source: bytes | Path) -> dict[str, int]:
    """{person: photos} that :meth:`DatasetStore.import_zip_folders` would try, read from the
    zip's directory alone (nothing is extracted); DatasetError as there for a zip it refuses."""
    with _open_zip(source) as archive:
        usable = [entry.filename for entry in _zip_files(archive) if not _zip_read_problem(entry)]
    return preview_paths(usable)


def preview_paths(paths: Sequence[str]) -> dict[str, int]:
    """{person: files} for files named by their path (a folder upload), as imported."""
    usable = [path for path in paths if not _path_problem(path)]
    groups, _ = people_in_paths(usable)
    return {name: len(indices) for name, indices in groups.items()}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _dump(people: dict[str, PersonRecord]) -> str:
    return json.dumps(
        {"version": MANIFEST_VERSION, "people": {slug: asdict(p) for slug, p in people.items()}},
        ensure_ascii=False,
        indent=1,
    )


def _photo_from_json(value: dict) -> PhotoRecord:
    value = dict(value)
    # Manifests from before the second engine: "processed" meant searched by the classic engine.
    if "processed" in value:
        value["searched"] = [LEGACY_ENGINE] if value.pop("processed") else []
    if isinstance(value.get("faces_found"), int):
        found = value.pop("faces_found")
        value["faces_found"] = {LEGACY_ENGINE: found} if value["searched"] else {}
    return PhotoRecord(**value)


def _crop_from_json(value: dict) -> CropRecord:
    # Manifests from before "auto": a rejection "by you" was the user's choice.
    return CropRecord(**{"auto": value.get("reason") != "by you", **value})


#: Crop ids become file names (<slug>/crops/<id>.png): letters, digits, "_" and "-" only.
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _relative_problem(path: object, what: str) -> str:
    """Why ``path`` (from the manifest) could lead outside the dataset folder, or ""."""
    if not isinstance(path, str) or not path:
        return f"{what} is not a path"
    parts = path.split("/")  # as written: PurePosixPath would drop "." and empty parts
    if (
        "\\" in path
        or "\0" in path
        or path.startswith("/")
        or re.match(r"^[A-Za-z]:", path)
        or any(part in ("", ".", "..") or part.startswith(".") for part in parts)
    ):
        return f"{what} {path!r} leads outside the dataset folder"
    return ""


def _person_problem(slug: object, person: PersonRecord) -> str:
    """What is wrong with one person's record, or "" when every field is usable.

    The manifest is trusted with paths the app reads, zips and deletes: each
    must be a plain relative path inside the dataset (a crafted "../victim"
    would have the dataset's Delete remove someone else's folder), and each
    field must have its type, so that a damaged manifest is one clear error
    here rather than a traceback wherever the field is first used.
    """
    where = _relative_problem(slug, "person folder")
    if where:
        return where
    if slug != person.slug or "/" in slug:
        return f"person folder {slug!r} does not match its record"
    try:
        validate_name(person.name)
    except InvalidNameError as exc:
        return f"person name {person.name!r} in folder {slug!r}: {exc}"
    if not isinstance(person.photos, dict) or not isinstance(person.crops, dict):
        return f"the photos or crops of {person.name!r} are not lists of records"
    for sha, photo in person.photos.items():
        if not all(isinstance(v, str) for v in (sha, photo.sha, photo.filename, photo.added, photo.source)):
            return f"a photo of {person.name!r} has a field that is not text"
        if sha != photo.sha:
            return f"photo {sha!r} of {person.name!r} does not match its record"
        where = _relative_problem(photo.stored, f"photo path of {person.name!r}")
        if where:
            return where
        if PurePosixPath(photo.stored).parts[0] != slug:
            return f"photo path {photo.stored!r} is not in the folder of {person.name!r}"
        if not isinstance(photo.searched, list) or not all(isinstance(e, str) for e in photo.searched):
            return f"photo {sha[:12]!r} of {person.name!r} has a damaged list of searched engines"
        if not isinstance(photo.faces_found, dict):
            return f"photo {sha[:12]!r} of {person.name!r} has damaged face counts"
    for crop_id, crop in person.crops.items():
        if not isinstance(crop_id, str) or crop_id != crop.id or not _SAFE_ID.fullmatch(crop_id):
            return f"crop {crop_id!r} of {person.name!r} has an id that cannot name a file"
        if not isinstance(crop.photo, str) or crop.photo not in person.photos:
            return f"crop {crop_id!r} of {person.name!r} points at a photo that is not theirs"
        if crop.status not in (KEPT, REJECTED):
            return f"crop {crop_id!r} of {person.name!r} has an unknown status {crop.status!r}"
        numbers = isinstance(crop.box, list) and all(type(v) in (int, float) for v in crop.box)
        if not numbers or len(crop.box) != 4:
            return f"crop {crop_id!r} of {person.name!r} has a damaged box"
        if not all(isinstance(v, str) for v in (crop.reason, crop.engine)) or type(crop.rank) is not int:
            return f"crop {crop_id!r} of {person.name!r} has a field of the wrong type"
    return ""


def _person_from_json(value: dict) -> PersonRecord:
    return PersonRecord(
        name=value["name"],
        slug=value["slug"],
        photos={sha: _photo_from_json(photo) for sha, photo in value["photos"].items()},
        crops={crop_id: _crop_from_json(crop) for crop_id, crop in value["crops"].items()},
    )
