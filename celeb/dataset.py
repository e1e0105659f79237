"""The dataset on disk: people, their photos, and the face crops made from them.

Layout under the dataset folder::

    manifest.json            every person, photo and crop, and each crop's status
    manifest.log             the changes since manifest.json was written
    <slug>/photos/<hash>.<ext>
    <slug>/crops/<crop id>.png
    .cache/features-<key>.npz

The manifest is the single source of truth. Every change takes an exclusive
file lock, reads the records as they are now, and records what it changed:
a line appended (and synced) to ``manifest.log``, or, while the dataset is
small and now and then to fold that journal in, a new ``manifest.json``
written atomically (:class:`~celeb.manifest.ManifestFiles`). So two browser
tabs (or the app and the CLI) never lose each other's changes, an interrupted
job leaves the previous state whole, and a change costs the same at 30 and at
3,000 photos. Files are written before the manifest names them; a file no
record names is ignored.

:class:`DatasetStore` is the one door to it; the work is done by the modules
of each job: :mod:`celeb.names`, :mod:`celeb.manifest` (records and their
file), :mod:`celeb.archive` (imports and export), :mod:`celeb.cropping` and
:mod:`celeb.feature_cache` (features and the training set).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from filelock import FileLock

from . import archive, cropping, feature_cache
from .archive import AddReport
from .config import DECODE_MAX_SIDE
from .cropping import COMMIT_SECONDS, CropReport
from .engines import DEFAULT_ENGINE, Engine, get_engine
from .errors import DatasetError, ImageError, InvalidNameError, ReadOnlyError
from .faces import TrainingSet
from .feature_cache import FeatureCache, engine_cache
from .images import read_image
from .manifest import (
    KEPT,
    REJECTED,
    Crop,
    CropRecord,
    ManifestFiles,
    PeopleEdit,
    PersonRecord,
    PersonSummary,
    PhotoRecord,
    content_hash,
    find_person,
    now,
    person_named,
)
from .names import slugify, validate_name
from .storage import StagedFile, clean_up_once

if TYPE_CHECKING:
    from .database import Database


#: An import records at most this many photos per change (see DatasetStore.add_photos).
ADD_BATCH_PHOTOS = 100


@dataclass
class _Incoming:
    """A photo on its way in: its file staged, or why it is skipped."""

    shown: str  # the file name the report gives
    why: str = ""
    sha: str = ""
    stored: str = ""
    source: str = ""
    file: StagedFile | None = None

    def discard(self) -> None:
        if self.file is not None:
            self.file.discard()
            self.file = None


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

    def __init__(
        self, root: str | Path, *, read_only: bool = False, database: Database | None = None
    ) -> None:
        self.root = Path(root)
        self.read_only = read_only
        #: None: the folder is the dataset. Else the database is, and the folder its working copy.
        self.database = database
        if not read_only or database is not None:
            self.root.mkdir(parents=True, exist_ok=True)
            clean_up_once(self.root)
        if database is None:
            self._files = ManifestFiles(self.root)
        else:
            from .database import DatabaseRecords  # SQLAlchemy: imported only for a database store

            self._files = DatabaseRecords(database, self.root)
        self.manifest_path = self._files.path
        self.cache_folder = self.root / ".cache"
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
            for p in sorted(self.records().values(), key=lambda p: p.name.casefold())
        ]

    def crops(self, name: str, status: str | None = None, engine: str = DEFAULT_ENGINE) -> list[Crop]:
        """A person's crops by ``engine`` (optionally only kept or rejected), photo by photo."""
        person = person_named(self.records(), name)
        return [
            self._crop_view(person, crop)
            for crop in sorted(
                person.crops.values(), key=lambda c: (person.photos[c.photo].added, c.photo, c.rank)
            )
            if crop.engine == engine and (status is None or crop.status == status)
        ]

    def crop(self, crop_id: str) -> Crop:
        for person in self.records().values():
            if crop_id in person.crops:
                return self._crop_view(person, person.crops[crop_id])
        raise DatasetError(f"no crop {crop_id!r} in the dataset")

    def photo_path(self, name: str, sha: str) -> Path:
        person = person_named(self.records(), name)
        if sha not in person.photos:
            raise DatasetError(f"{name} has no such photo")
        return self.root / person.photos[sha].stored

    # -- people

    def add_person(self, name: str) -> PersonSummary:
        name = validate_name(name)
        with self.editing() as people:
            if find_person(people, name) is not None:
                raise InvalidNameError(f"there is already a person called {name!r}")
            slug = self._free_slug(people, slugify(name))
            people[slug] = PersonRecord(name=name, slug=slug)
        return next(p for p in self.people() if p.slug == slug)

    def rename_person(self, name: str, new_name: str) -> None:
        new_name = validate_name(new_name)
        with self.editing() as people:
            person = person_named(people, name)
            other = find_person(people, new_name)
            if other is not None and other is not person:
                raise InvalidNameError(f"there is already a person called {new_name!r}")
            person.name = new_name

    def delete_person(self, name: str) -> None:
        """Remove a person with all their photos and crops."""
        with self.editing() as people:
            slug = person_named(people, name).slug
            del people[slug]
            if self.database is not None:
                self._files.forget_folder(slug)
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
            for person in self.records().values()
            for photo in person.photos.values()
            if photo.source
        }

    def add_photo(self, name: str, data: bytes, filename: str, source: str = "") -> AddReport:
        """Add one photo's bytes; the same content twice is a no-op. ``source``: its web address."""
        return self.add_photos(name, [(filename, data, source)])

    def add_photos(self, name: str, photos: Iterable[tuple[str, bytes | None, str]]) -> AddReport:
        """Add photos to ``name``: each ``(file name, bytes, web address or "")``, or ``(file name,
        None, why it is skipped)``; the report keeps their order.

        ``photos`` is read as it goes (an import's files need not all be in memory). Each photo's
        file is written (and synced) before the lock is taken; the records go in groups of up to
        ADD_BATCH_PHOTOS, or what came in COMMIT_SECONDS, one change each: an interrupted import
        keeps every group recorded, and its photos are the ones reported added.
        """
        self.require_writable()
        report, batch, started = AddReport(), [], time.monotonic()
        folder: list[str] = []  # the person's folder, once looked up
        try:
            for filename, data, extra in photos:
                batch.append(
                    _Incoming(filename, why=extra)
                    if data is None
                    else self._stage(name, data, filename, extra, folder)
                )
                if len(batch) >= ADD_BATCH_PHOTOS or time.monotonic() - started >= COMMIT_SECONDS:
                    report.merge(self._record_photos(name, batch))
                    batch, started = [], time.monotonic()
            report.merge(self._record_photos(name, batch))
            batch = []
        finally:
            for incoming in batch:
                incoming.discard()
        return report

    def _stage(self, name: str, data: bytes, filename: str, source: str, folder: list[str]) -> _Incoming:
        """A photo checked and its file written under a temporary name (see :meth:`add_photos`);
        ``folder`` holds the person's folder once looked up (it is checked again under the lock)."""
        shown = PurePosixPath(filename.replace("\\", "/")).name or "photo"
        try:
            photo = read_image(data, max_side=DECODE_MAX_SIDE)
        except ImageError as exc:
            return _Incoming(shown, why=str(exc))
        sha = content_hash(data)
        suffix = "." + (photo.format.lower().replace("jpeg", "jpg").replace("mpo", "jpg") or "img")
        if not folder:
            folder.append(person_named(self.records(), name).slug)
        stored = f"{folder[0]}/photos/{sha[:20]}{suffix}"
        return _Incoming(shown, sha=sha, stored=stored, source=source, file=self.stage_file(stored, data))

    def _record_photos(self, name: str, batch: list[_Incoming]) -> AddReport:
        """Record the staged photos of ``batch`` as one change; what became of each, in order."""
        outcome: dict[int, str] = {}  # index in batch -> why it is skipped
        if any(incoming.file for incoming in batch):
            with self.editing() as people:
                person = person_named(people, name)
                for index, incoming in enumerate(batch):
                    if incoming.file is None:
                        continue
                    owner = people.owner(incoming.sha)
                    if owner is not None:
                        where = (
                            "already added" if owner.slug == person.slug else f"already added to {owner.name}"
                        )
                        outcome[index] = f"the same photo is {where}"
                    elif PurePosixPath(incoming.stored).parts[0] != person.slug:
                        outcome[index] = f"{name} was removed and made again meanwhile"
                    else:
                        incoming.file.commit()
                        incoming.file = None
                        person.photos[incoming.sha] = PhotoRecord(
                            sha=incoming.sha,
                            filename=incoming.shown,
                            stored=incoming.stored,
                            added=now(),
                            source=incoming.source,
                        )
        report = AddReport()
        for index, incoming in enumerate(batch):
            why = incoming.why or outcome.get(index, "")
            if why:
                report.skipped.append((incoming.shown, why))
            else:
                report.added.append(incoming.shown)
            incoming.discard()
        return report

    def add_files(self, name: str, paths: Iterable[Path]) -> AddReport:
        """Add photos from files (a folder's contents, say)."""
        return archive.add_files(self, name, paths)

    def add_zip(self, name: str, source: bytes | Path) -> AddReport:
        """Add every photo in a zip; hostile or non-image entries are reported."""
        return archive.add_zip(self, name, source)

    def import_zip_folders(
        self, source: bytes | Path, progress: Callable[[int, int], None] | None = None
    ) -> dict[str, AddReport]:
        """Add a zip that holds one folder of photos per person (see :func:`archive.import_zip_folders`)."""
        return archive.import_zip_folders(self, source, progress)

    def import_named_files(
        self, files: Sequence[tuple[str, bytes]], progress: Callable[[int, int], None] | None = None
    ) -> dict[str, AddReport]:
        """Add files named by their path in a folder of people folders (a browser's folder upload)."""
        return archive.import_named_files(self, files, progress)

    def import_folders(self, root: Path) -> AddReport:
        """Add a folder that holds one sub-folder of photos per person."""
        return archive.import_folders(self, root)

    # -- cropping

    def find_faces(
        self,
        names: list[str] | None = None,
        *,
        engine: str = DEFAULT_ENGINE,
        progress: Callable[[int, int], None] | None = None,
        workers: int | None = None,
    ) -> CropReport:
        """Detect and crop faces, with ``engine``, in every photo it has not searched yet
        (:func:`celeb.cropping.find_faces` says how)."""
        return cropping.find_faces(self, names, engine=engine, progress=progress, workers=workers)

    def add_chosen_face(
        self, name: str, data: bytes, filename: str, box: Sequence[int], engine: str = DEFAULT_ENGINE
    ) -> str:
        """Add a photo to ``name`` with the face at ``box`` as a kept crop the user chose
        (``auto=False``) by ``engine``; its crop id. See :func:`celeb.cropping.add_chosen_face`."""
        return cropping.add_chosen_face(self, name, data, filename, box, engine)

    # -- curation

    def set_status(self, crop_ids: Iterable[str], status: str) -> None:
        """Reject or restore crops; the choice outlives every later cropping run."""
        if status not in (KEPT, REJECTED):
            raise ValueError(f"status must be {KEPT!r} or {REJECTED!r}")
        ids = set(crop_ids)
        with self.editing() as people:
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
        kept = list(self._kept(engine.name))
        crops = [(p.name, c.id, self.crop_file(p.slug, c.id), c.photo) for p, c in kept]
        cache = self.feature_cache(engine)
        data, ids = feature_cache.training_set(
            engine, crops, cache, mirror=mirror, on_unreadable=on_unreadable
        )
        if not self.read_only:
            self.save_feature_cache(cache, keep={crop.id for _, crop in kept})
        return data, ids

    def feature_cache(self, engine: Engine) -> FeatureCache:
        """The cached feature vectors of ``engine``'s crops (with its present settings)."""
        cache = engine_cache(self.cache_folder, engine)
        if self.database is not None and not cache.entries:
            self._files.fetch_file(self._key_of(cache.path))  # a working folder made anew
            cache = engine_cache(self.cache_folder, engine)
        return cache

    def save_feature_cache(self, cache: FeatureCache, keep: set[str]) -> None:
        """Save ``cache`` with the vectors of the crops ``keep`` (the others are stale)."""
        if cache.save(keep) and self.database is not None:
            self._files.keep_file(self._key_of(cache.path))

    def fingerprint(self, engine: str = DEFAULT_ENGINE) -> str:
        """A short hash of what training with ``engine`` would see: people and kept crops."""
        kept = sorted((person.name, crop.id) for person, crop in self._kept(engine))
        return hashlib.sha256(json.dumps(kept).encode()).hexdigest()[:16]

    def kept_photos(self, engine: str = DEFAULT_ENGINE) -> list[tuple[str, str]]:
        """(person, photo sha) of every kept crop of ``engine``: what training uses, without features."""
        return [(person.name, crop.photo) for person, crop in self._kept(engine)]

    def _kept(self, engine: str) -> Iterator[tuple[PersonRecord, CropRecord]]:
        for person in self.records().values():
            for crop in person.crops.values():
                if crop.status == KEPT and crop.engine == engine:
                    yield person, crop

    # -- export

    def export_zip(self) -> bytes:
        """The curated dataset: each person's photos and kept crops, plus the manifest."""
        return archive.export_zip(self)

    # -- internals

    def stage_file(self, key: str, data: bytes) -> StagedFile:
        """``data`` staged for the path ``key`` in the dataset; put in place by its ``commit()``,
        which a change (:meth:`editing`) makes once it records what names the file."""
        if self.database is None:
            return StagedFile(self.root / key, data)
        return self._files.stage(key, data)

    def put_file(self, key: str, data: bytes) -> None:
        """Write the file ``key`` now, in the change being made (inside :meth:`editing`)."""
        self.stage_file(key, data).commit()

    def stored_digests(self, keys: Iterable[str]) -> dict[str, str]:
        """The SHA-256 of each file of ``keys`` the store holds (what a copy need not write again)."""
        if self.database is not None:
            return self._files.digests(keys)
        digests = {}
        for key in keys:
            try:
                digests[key] = content_hash((self.root / key).read_bytes())
            except OSError:
                continue
        return digests

    def crop_key(self, slug: str, crop_id: str) -> str:
        """The path of a crop's file in the dataset."""
        return f"{slug}/crops/{crop_id}.png"

    def _key_of(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def crop_file(self, slug: str, crop_id: str) -> Path:
        return self.root / self.crop_key(slug, crop_id)

    def _crop_view(self, person: PersonRecord, crop: CropRecord) -> Crop:
        photo = person.photos[crop.photo]
        return Crop(
            person=person.name,
            record=crop,
            path=self.crop_file(person.slug, crop.id),
            photo_path=self.root / photo.stored,
            photo_filename=photo.filename,
        )

    def require_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError("the dataset is read-only here: only its owner can change it")

    @contextmanager
    def editing(self) -> Iterator[PeopleEdit]:
        """The people (slug -> record) to change, under the dataset's lock; what was changed is
        recorded when the block ends, nothing when it raises."""
        self.require_writable()
        with self._lock if self.database is None else self._files.locked():
            state = self._files.load()
            people = PeopleEdit(state.people, state.lookups())
            yield people
            changes = people.changes()
            if changes:
                self._files.commit(state, changes)

    def records(self) -> dict[str, PersonRecord]:
        """Every person's record by folder (slug), as the manifest holds them now.

        The records are shared with this process's cache of the manifest: read them, and change
        them only through :meth:`editing`.
        """
        return dict(self._files.load().people)

    def _free_slug(self, people: dict[str, PersonRecord], slug: str) -> str:
        candidate, number = slug, 1
        while candidate in people or (self.root / candidate).exists() or candidate.startswith("."):
            number += 1
            candidate = f"{slug}_{number}"
        return candidate
