"""The dataset's records and their files: reading them (with migration from older forms),
checking every path and field they name, and writing them.

The records live in two files beside each other (:class:`ManifestFiles`):

- ``manifest.json``, a snapshot of every record, in the form older versions
  read and write. While it is small (REWRITE_BELOW_BYTES), every change
  rewrites it whole, atomically, and it is all there is.
- ``manifest.log``, the journal of changes since that snapshot: a header line
  naming the snapshot it continues (the sha256 of its bytes), then one JSON
  line per change (numbered, holding the records that change puts or removes),
  each appended with one write and synced under the dataset's lock. A change
  so costs the same whatever the dataset's size. Readers apply the journal on
  top of the snapshot; a last line torn by a crash is ignored (it was never
  reported written). Once the journal outgrows COMPACT_SHARE times the snapshot,
  the next change writes a new snapshot instead (atomically) and removes the
  journal: a journal whose header names another snapshot is stale and never
  applied, so a crash between the two applies nothing twice.

Parsed records are cached per process, keyed by the files' identity and the
journal bytes read: an unchanged dataset is not parsed again, and a grown
journal is read from where it was left.

The JSON field names on disk are the record fields: a manifest written by an
older version stays readable (see :func:`_photo_from_json`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path, PurePosixPath
from typing import Any

from .config import MAX_MANIFEST_BYTES
from .engines import LEGACY_ENGINE
from .errors import DatasetError, InvalidNameError, ManifestError
from .names import person_key, validate_name
from .storage import append_synced, read_regular_file_and_stat, utc_timestamp, write_atomic

MANIFEST_VERSION = 1
JOURNAL_VERSION = 1

#: Every change rewrites the whole snapshot while it is smaller than this (about 150 photos):
#: such a rewrite costs about what appending a line does, and manifest.json then holds every
#: record, for older versions and people reading it.
REWRITE_BELOW_BYTES = 64 * 1024
#: The journal is folded into a new snapshot when it would grow past this many times the snapshot
#: (or REWRITE_BELOW_BYTES): rewriting costs in proportion to the changes since, a constant per change.
COMPACT_SHARE = 2

KEPT, REJECTED = "kept", "rejected"


def content_hash(data: bytes) -> str:
    """A photo's identity in the manifest: the sha256 of its bytes, in hex."""
    return hashlib.sha256(data).hexdigest()


def now() -> str:
    """When a record is made, as the manifest stores it."""
    return utc_timestamp()


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


def manifest_text(people: dict[str, PersonRecord]) -> str:
    """The manifest file's text for ``people`` (slug -> record)."""
    return json.dumps(
        {"version": MANIFEST_VERSION, "people": {slug: _person_json(p) for slug, p in people.items()}},
        ensure_ascii=False,
        indent=1,
    )


def _record_json(record: PhotoRecord | CropRecord) -> dict:
    """A record's fields as JSON holds them (what ``dataclasses.asdict`` gives, without copying)."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _person_json(person: PersonRecord) -> dict:
    return {
        "name": person.name,
        "slug": person.slug,
        "photos": {sha: _record_json(photo) for sha, photo in person.photos.items()},
        "crops": {crop_id: _record_json(crop) for crop_id, crop in person.crops.items()},
    }


def read_manifest(path: Path) -> dict[str, PersonRecord]:
    """The people of the manifest snapshot at ``path`` ({} when there is none yet), without the
    journal beside it (:class:`ManifestFiles` reads both); ManifestError when it is unreadable,
    of another version, damaged, or names a path outside the dataset."""
    try:
        data, _ = read_regular_file_and_stat(path, MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ManifestError(f"the dataset manifest {path} is unreadable: {exc.strerror or exc}") from exc
    return _parse_manifest(data, path)


def _parse_manifest(data: bytes, path: Path) -> dict[str, PersonRecord]:
    try:
        raw = json.loads(data.decode("utf-8"))
    except ValueError as exc:  # not UTF-8, not JSON
        raise ManifestError(f"the dataset manifest {path} is unreadable: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("version") != MANIFEST_VERSION:
        version = raw.get("version") if isinstance(raw, dict) else None
        raise ManifestError(f"the dataset manifest has version {version}; expected {MANIFEST_VERSION}")
    try:
        people = {slug: _person_from_json(value) for slug, value in raw["people"].items()}
    except (KeyError, TypeError, AttributeError) as exc:
        raise ManifestError(f"the dataset manifest {path} is damaged ({exc!r})") from exc
    for slug, person in people.items():
        problem = _person_problem(slug, person)
        if problem:
            raise ManifestError(
                f"the dataset manifest {path} is damaged or crafted, so it is not used: "
                f"{problem}. Restore it from a backup, or fix or remove that entry."
            )
    return people


def find_person(people: dict[str, PersonRecord], name: str) -> PersonRecord | None:
    """The record of the person ``name`` names (:func:`~celeb.names.same_person`), or None."""
    key = _person_key(name)
    if isinstance(people, PeopleEdit):  # look without copying, or even visiting, every person
        slug = people.slug_named(key)
        return None if slug is None else people[slug]
    return next((p for p in people.values() if _person_key(p.name) == key), None)


#: What same_person compares, remembered: every photo added looks its person up among all people.
_person_key = functools.lru_cache(maxsize=1 << 16)(person_key)


def person_named(people: dict[str, PersonRecord], name: str) -> PersonRecord:
    """:func:`find_person`, or DatasetError when there is no such person."""
    person = find_person(people, name)
    if person is None:
        raise DatasetError(f"there is no person called {name!r}")
    return person


# ---------------------------------------------------------------- migration


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


def _person_from_json(value: dict) -> PersonRecord:
    return PersonRecord(
        name=value["name"],
        slug=value["slug"],
        photos={sha: _photo_from_json(photo) for sha, photo in value["photos"].items()},
        crops={crop_id: _crop_from_json(crop) for crop_id, crop in value["crops"].items()},
    )


# ---------------------------------------------------------------- validation

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
    problem = _person_fields_problem(slug, person)
    if problem:
        return problem
    for sha, photo in person.photos.items():
        problem = _photo_problem(slug, person, sha, photo)
        if problem:
            return problem
    for crop_id, crop in person.crops.items():
        problem = _crop_problem(person, crop_id, crop)
        if problem:
            return problem
    return ""


def _person_fields_problem(slug: object, person: PersonRecord) -> str:
    """What is wrong with a person's folder, name, or lists of records, or ""."""
    where = _relative_problem(slug, "person folder")
    if where:
        return where
    if slug != person.slug or "/" in slug:
        return f"person folder {slug!r} does not match its record"
    problem = _name_problem(slug, person)
    if problem:
        return problem
    if not isinstance(person.photos, dict) or not isinstance(person.crops, dict):
        return f"the photos or crops of {person.name!r} are not lists of records"
    return ""


def _name_problem(slug: str, person: PersonRecord) -> str:
    try:
        validate_name(person.name)
    except InvalidNameError as exc:
        return f"person name {person.name!r} in folder {slug!r}: {exc}"
    return ""


def _photo_problem(slug: str, person: PersonRecord, sha: object, photo: PhotoRecord) -> str:
    """What is wrong with one photo record of ``person`` (in folder ``slug``), or ""."""
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
    return ""


def _crop_problem(person: PersonRecord, crop_id: object, crop: CropRecord) -> str:
    """What is wrong with one crop record of ``person`` (whose photos it must name), or ""."""
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


# ---------------------------------------------------------------- changes: made, recorded, applied


class _Overlay(MutableMapping):
    """A mapping over ``base`` (never changed) whose values are copied when first read.

    What an edit does lands in the copies; afterwards the copies, the values set and the keys
    removed say what changed, found without comparing every record. Asking whether a key is
    there, or iterating the keys, copies nothing.
    """

    def __init__(self, base: dict, copy: Callable[[Any], Any]) -> None:
        self.base, self._copy = base, copy
        self.touched: dict = {}  # key -> its value now: a copy of base's, or one set
        self.copies: dict = {}  # key -> the copy handed out (to tell it from a value set)
        self.removed: set = set()  # keys of base removed

    def __getitem__(self, key: Any) -> Any:
        if key in self.touched:
            return self.touched[key]
        if key in self.removed or key not in self.base:
            raise KeyError(key)
        value = self.touched[key] = self.copies[key] = self._copy(self.base[key])
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        self.touched[key] = value
        self.removed.discard(key)

    def __delitem__(self, key: Any) -> None:
        if key not in self:
            raise KeyError(key)
        self.touched.pop(key, None)
        if key in self.base:
            self.removed.add(key)

    def __contains__(self, key: object) -> bool:
        try:
            return key in self.touched or (key in self.base and key not in self.removed)
        except TypeError:  # unhashable
            return False

    def __iter__(self) -> Iterator:
        for key in self.base:
            if key not in self.removed:
                yield key
        yield from [key for key in self.touched if key not in self.base]

    def __len__(self) -> int:
        return len(self.base) - len(self.removed) + sum(key not in self.base for key in self.touched)

    def changed(self) -> Iterator[tuple[Any, Any]]:
        """(key, value) set, or copied and changed since."""
        for key, value in self.touched.items():
            if self.copies.get(key) is not value or value != self.base[key]:
                yield key, value


def _copy_record(record: Any) -> Any:
    """A copy of a photo or crop record whose lists and dicts can change apart from the original."""
    values = {}
    for item in fields(record):
        value = getattr(record, item.name)
        values[item.name] = (
            list(value) if isinstance(value, list) else dict(value) if isinstance(value, dict) else value
        )
    return type(record)(**values)


def _copy_person(person: PersonRecord) -> PersonRecord:
    return PersonRecord(
        name=person.name,
        slug=person.slug,
        photos=_Overlay(person.photos, _copy_record),
        crops=_Overlay(person.crops, _copy_record),
    )


class PeopleEdit(_Overlay):
    """The people as :meth:`~celeb.dataset.DatasetStore.editing` hands them to a change: a mapping
    slug -> record to change freely (records are copied when first read, so the state they came
    from stays whole); :meth:`changes` is then what to record."""

    def __init__(self, people: dict[str, PersonRecord], index: _Index | None = None) -> None:
        super().__init__(people, _copy_person)
        self._index = index or _Index.of(people)

    def slug_named(self, key: str) -> str | None:
        """The folder of the person whose name has the :func:`~celeb.names.person_key` ``key``."""
        for slug, person in self.touched.items():  # changed here: looked at as they are now
            if _person_key(person.name) == key:
                return slug
        slug = self._index.names.get(key)
        return slug if slug is not None and slug not in self.touched and slug not in self.removed else None

    def owner(self, sha: str) -> PersonRecord | None:
        """The person who has the photo ``sha``, as they are now (not a copy: to look at only)."""
        for person in self.touched.values():
            if sha in person.photos:
                return person
        slug = self._index.owners.get(sha)
        if slug is None or slug in self.touched or slug in self.removed:
            return None
        return self.base[slug]

    def changes(self) -> list[list]:
        """The change made, as journal operations (see :meth:`_Applier.apply`)."""
        ops: list[list] = [["-person", slug] for slug in self.removed]
        for slug, person in self.touched.items():
            before = self.base.get(slug)
            photos, crops = person.photos, person.crops
            ours = (
                self.copies.get(slug) is person
                and person.slug == before.slug
                and isinstance(photos, _Overlay)
                and photos.base is before.photos
                and isinstance(crops, _Overlay)
                and crops.base is before.crops
            )
            if not ours:  # a new person, or one replaced whole
                ops.append(["person", slug, _person_json(person)])
                continue
            if person.name != before.name:
                ops.append(["name", slug, person.name])
            ops += [["photo", slug, sha, _record_json(photo)] for sha, photo in photos.changed()]
            ops += [["crop", slug, crop_id, _record_json(crop)] for crop_id, crop in crops.changed()]
            ops += [["-crop", slug, crop_id] for crop_id in crops.removed]
            ops += [["-photo", slug, sha] for sha in photos.removed]
        return ops


class _Index:
    """Who has each photo, and each person's folder by name (person_key): what a change looks up,
    at the same cost whatever the number of people. Kept up to date by :class:`_Applier`.

    Records hold a photo in one person only, and a name once (a crafted manifest that does not is
    looked up as well as it can be: the first holder seen).
    """

    def __init__(self, owners: dict[str, str], names: dict[str, str]) -> None:
        self.owners, self.names = owners, names

    @classmethod
    def of(cls, people: dict[str, PersonRecord]) -> _Index:
        index = cls({}, {})
        for slug, person in people.items():
            index.add(slug, person)
        return index

    def copy(self) -> _Index:
        return _Index(dict(self.owners), dict(self.names))

    def add(self, slug: str, person: PersonRecord) -> None:
        for sha in person.photos:
            self.owners.setdefault(sha, slug)
        self.names.setdefault(_person_key(person.name), slug)

    def drop(self, slug: str, person: PersonRecord) -> None:
        for sha in person.photos:
            if self.owners.get(sha) == slug:
                del self.owners[sha]
        self.drop_name(slug, person.name)

    def drop_name(self, slug: str, name: str) -> None:
        key = _person_key(name)
        if self.names.get(key) == slug:
            del self.names[key]


class _Applier:
    """Applies journal operations to a state without changing it: the people dict and each person
    touched are copied once (dict copies, not records), whatever the number of operations; and
    ``index``, when given, is kept up to date (in a copy)."""

    def __init__(self, people: dict[str, PersonRecord], index: _Index | None = None) -> None:
        self.people = dict(people)
        self.index = index.copy() if index is not None else None
        self._own: set[str] = set()  # people whose record here is a copy of ours to change

    def _person(self, slug: str) -> PersonRecord:
        if slug not in self._own:
            old = self.people[slug]
            self.people[slug] = PersonRecord(old.name, old.slug, dict(old.photos), dict(old.crops))
            self._own.add(slug)
        return self.people[slug]

    def apply(self, ops: object) -> str:
        """Apply one change's operations; what is wrong with them (nothing applied is then
        usable), or "". The operations, each a JSON list:

        ``["person", slug, record]`` (a person put whole), ``["-person", slug]``,
        ``["name", slug, name]``, ``["photo", slug, sha, record]``, ``["-photo", slug, sha]``,
        ``["crop", slug, id, record]``, ``["-crop", slug, id]``.
        """
        if not isinstance(ops, list):
            return "a change is not a list of operations"
        checks: list[tuple[str, str, Any]] = []
        try:
            for op in ops:
                if not (isinstance(op, list) and len(op) >= 2 and isinstance(op[1], str)):
                    return f"an operation is damaged: {str(op)[:80]!r}"
                tag, slug, *rest = op
                if tag == "person":
                    (value,) = rest
                    person = _person_from_json(value)
                    if self.index is not None:
                        if slug in self.people:
                            self.index.drop(slug, self.people[slug])
                        self.index.add(slug, person)
                    self.people[slug] = person
                    self._own.add(slug)
                elif tag == "-person":
                    () = rest
                    if self.index is not None:
                        self.index.drop(slug, self.people[slug])
                    del self.people[slug]
                    self._own.discard(slug)
                elif tag == "name":
                    (name,) = rest
                    person = self._person(slug)
                    if self.index is not None:
                        self.index.drop_name(slug, person.name)
                        self.index.names.setdefault(_person_key(name), slug)
                    person.name = name
                elif tag == "photo":
                    key, value = rest
                    self._person(slug).photos[key] = _photo_from_json(value)
                    if self.index is not None:
                        self.index.owners.setdefault(key, slug)
                elif tag == "-photo":
                    (key,) = rest
                    del self._person(slug).photos[key]
                    if self.index is not None and self.index.owners.get(key) == slug:
                        del self.index.owners[key]
                elif tag == "crop":
                    key, value = rest
                    self._person(slug).crops[key] = _crop_from_json(value)
                elif tag == "-crop":
                    (key,) = rest
                    del self._person(slug).crops[key]
                else:
                    return f"an operation is of an unknown kind {str(tag)[:40]!r}"
                checks.append((tag, slug, rest[0] if rest else None))
        except KeyError as exc:
            return f"an operation names {str(exc)[:80]} which is not in the dataset"
        except (TypeError, ValueError, AttributeError) as exc:
            return f"an operation is damaged ({str(exc)[:80]})"
        for tag, slug, key in checks:
            person = self.people.get(slug)
            if person is None:  # removed by a later operation
                continue
            if tag == "person":
                problem = _person_problem(slug, person)
            elif tag == "name":
                problem = _name_problem(slug, person)
            elif tag == "photo" and key in person.photos:
                problem = _photo_problem(slug, person, key, person.photos[key])
            elif tag == "crop" and key in person.crops:
                problem = _crop_problem(person, key, person.crops[key])
            elif tag == "-photo":
                problem = next(
                    (_crop_problem(person, c.id, c) for c in person.crops.values() if c.photo == key), ""
                )
            else:
                problem = ""
            if problem:
                return problem
        return ""


# ---------------------------------------------------------------- the files


@dataclass(frozen=True)
class _State:
    """The records as read from a snapshot and its journal, with what tells whether they still hold.

    Shared by every reader in the process: never changed (a change makes a new state).
    """

    people: dict[str, PersonRecord]  # with the journal applied
    base: dict[str, PersonRecord]  # the snapshot's alone
    snapshot: tuple | None  # (device, inode, size, mtime, ctime) of manifest.json; None: none yet
    snapshot_bytes: bytes | None  # its bytes when small: compared, since two rewrites can share a time
    snapshot_size: int
    snapshot_sha: str
    journal: tuple[int, int] | None = None  # (device, inode) of the journal read
    live: bool = False  # the journal's header names this snapshot: its lines apply
    offset: int = 0  # journal bytes read: the header and every whole line applied
    seq: int = 0  # the number of the last line applied
    index: _Index | None = None  # of ``people``, made when a change first needs it

    def lookups(self) -> _Index:
        """``index``, made now if need be (once per state read from the files)."""
        if self.index is None:
            object.__setattr__(self, "index", _Index.of(self.people))
        return self.index


#: Snapshots up to this size are compared by content to tell that the cached records still hold.
_COMPARE_BELOW_BYTES = 256 * 1024
_READ_ATTEMPTS = 20
_cache: dict[str, _State] = {}  # manifest path -> the state last read or written by this process


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _identity(info: os.stat_result) -> tuple:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


class ManifestFiles:
    """The dataset's records on disk: ``manifest.json`` (the snapshot) and ``manifest.log`` (the
    journal of changes since), read by :meth:`load` and changed by :meth:`commit` (the caller holds
    the dataset's lock)."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / "manifest.json"
        self.journal_path = Path(root) / "manifest.log"
        self._key = os.path.abspath(self.path)

    # -- reading

    def load(self) -> _State:
        """The records as the files hold them now (ManifestError when they cannot be used)."""
        cached = _cache.get(self._key)
        for _ in range(_READ_ATTEMPTS):
            state = self._read_journal(self._read_snapshot(cached))
            # A new snapshot written meanwhile (and its journal removed): read again.
            if self._snapshot_identity() == state.snapshot:
                _cache[self._key] = state
                return state
            cached = state
        raise ManifestError(f"the dataset manifest {self.path} kept changing while it was read; try again")

    def _snapshot_identity(self) -> tuple | None:
        try:
            return _identity(os.stat(self.path))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ManifestError(
                f"the dataset manifest {self.path} is unreadable: {exc.strerror or exc}"
            ) from exc

    def _read_snapshot(self, cached: _State | None) -> _State:
        """The snapshot's records: ``cached`` itself (journal read and all) when it still holds."""
        identity = self._snapshot_identity()
        if identity is None:
            return cached if cached is not None and cached.snapshot is None else _empty()
        if cached is not None and cached.snapshot == identity and cached.snapshot_bytes is None:
            return cached
        try:
            data, info = read_regular_file_and_stat(self.path, MAX_MANIFEST_BYTES)
        except FileNotFoundError:  # replaced meanwhile: load() reads again
            return _empty()
        except OSError as exc:
            raise ManifestError(
                f"the dataset manifest {self.path} is unreadable: {exc.strerror or exc}"
            ) from exc
        identity = _identity(info)
        if cached is not None and cached.snapshot == identity and cached.snapshot_bytes == data:
            return cached
        people = _parse_manifest(data, self.path)
        small = data if len(data) < _COMPARE_BELOW_BYTES else None
        return _State(people, people, identity, small, len(data), _sha(data))

    def _read_journal(self, state: _State) -> _State:
        """``state`` with the journal's lines not read yet applied."""
        try:
            info = os.stat(self.journal_path)
        except FileNotFoundError:
            return _fresh(state, None)
        except OSError as exc:
            raise self._journal_error(f"is unreadable: {exc.strerror or exc}") from exc
        journal = (info.st_dev, info.st_ino)
        if state.journal == journal and state.offset <= info.st_size:
            if info.st_size == state.offset or (state.offset and not state.live):
                return state  # nothing new (or a stale journal, whose lines never apply)
        else:
            state = _fresh(state, journal)
        data, info = self._read_journal_bytes(state.offset)
        if data is None:
            return _fresh(state, None)
        if (info.st_dev, info.st_ino) != state.journal:  # replaced meanwhile: read the new one whole
            if state.offset:
                data, info = self._read_journal_bytes(0)
                if data is None:
                    return _fresh(state, None)
            state = _fresh(state, (info.st_dev, info.st_ino))
        return self._apply_journal(state, data)

    def _read_journal_bytes(self, offset: int) -> tuple[bytes | None, os.stat_result | None]:
        try:
            return read_regular_file_and_stat(self.journal_path, MAX_MANIFEST_BYTES, offset)
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            raise self._journal_error(f"is unreadable: {exc.strerror or exc}") from exc

    def _apply_journal(self, state: _State, data: bytes) -> _State:
        """``state`` with the whole lines of ``data`` (the journal from ``state.offset`` on) applied."""
        lines = data.split(b"\n")[:-1]  # what follows the last newline is a line being written
        offset, first = state.offset, 0
        if offset == 0:
            if not lines:
                return state
            header = _json_line(lines[0])
            if header is None and len(lines) == 1 and data.endswith(b"\n"):
                return state  # a header torn by a crash: no journal yet
            if not isinstance(header, dict) or header.get("journal") != JOURNAL_VERSION:
                version = header.get("journal") if isinstance(header, dict) else None
                raise self._journal_error(
                    f"has a damaged header, or version {version}; expected {JOURNAL_VERSION}"
                )
            offset, first = len(lines[0]) + 1, 1
            if header.get("manifest") != state.snapshot_sha:  # it continues another snapshot: stale
                return replace(state, offset=offset, live=False)
        changes, seq = _Applier(state.people, state.index), state.seq
        for index in range(first, len(lines)):
            line = _json_line(lines[index])
            if line is None and index == len(lines) - 1 and data.endswith(b"\n"):
                break  # a last line torn by a crash: never reported written, ignored
            if not (isinstance(line, dict) and line.get("seq") == seq + 1 and "ops" in line):
                raise self._journal_error(f"is damaged at change {seq + 1}: not a change, or out of order")
            problem = changes.apply(line["ops"])
            if problem:
                raise self._journal_error(
                    f"is damaged or crafted at change {seq + 1}, so it is not used: {problem}. "
                    "Restore the dataset from a backup, or remove that line and those after it"
                )
            seq, offset = seq + 1, offset + len(lines[index]) + 1
        if seq == state.seq:
            return replace(state, live=True, offset=offset)
        return replace(state, people=changes.people, index=changes.index, live=True, offset=offset, seq=seq)

    def _journal_error(self, what: str) -> ManifestError:
        return ManifestError(f"the dataset journal {self.journal_path} {what}")

    # -- writing (under the dataset's lock)

    def commit(self, state: _State, ops: list[list]) -> _State:
        """Record the change ``ops`` made to ``state`` (read under the lock) durably; the new state.

        Appended to the journal as one synced line, or, while the snapshot is small or when the
        journal has grown enough, written as a whole new snapshot. Either way the files hold the
        old state or the new one, whatever moment a crash comes at.
        """
        live = state.live
        seq = state.seq + 1 if live else 1
        line = (
            json.dumps({"seq": seq, "ops": ops}, ensure_ascii=False, separators=(",", ":")) + "\n"
        ).encode()
        changes = _Applier(state.people, state.lookups())
        problem = changes.apply(json.loads(line)["ops"])  # as a reader will: the change must be usable
        if problem:
            raise DatasetError(
                f"this change would damage the dataset's records, so it is not made: {problem}"
            )
        people, index = changes.people, changes.index
        header = b"" if live else self._header(state)
        grown = (state.offset if live else len(header)) + len(line)
        limit = COMPACT_SHARE * max(state.snapshot_size, REWRITE_BELOW_BYTES)
        if (not live and state.snapshot_size < REWRITE_BELOW_BYTES) or grown > min(limit, MAX_MANIFEST_BYTES):
            return self._write_snapshot(people, index, state)
        if live:
            info = append_synced(self.journal_path, line, at=state.offset, file_id=state.journal)
        else:
            write_atomic(self.journal_path, header + line)  # replaces a stale journal, if any
            info = os.stat(self.journal_path)
        journal = (info.st_dev, info.st_ino)
        new = replace(state, people=people, index=index, journal=journal, live=True, offset=grown, seq=seq)
        _cache[self._key] = new
        return new

    def _header(self, state: _State) -> bytes:
        header = {"journal": JOURNAL_VERSION, "manifest": state.snapshot_sha}
        return (json.dumps(header) + "\n").encode()

    def _write_snapshot(self, people: dict[str, PersonRecord], index: _Index, state: _State) -> _State:
        """Write ``people`` as the new snapshot and remove the journal it holds."""
        data = manifest_text(people).encode()
        if len(data) > MAX_MANIFEST_BYTES:
            raise DatasetError(
                f"the dataset's records would take {len(data) / 2**20:.0f} MB, over the limit of "
                f"{MAX_MANIFEST_BYTES / 2**20:.0f} MB; split it into several datasets"
            )
        if not state.live:
            # A stale journal goes first: were the snapshot ever again the one it continues,
            # its lines would apply a second time.
            self.journal_path.unlink(missing_ok=True)
        write_atomic(self.path, data)
        # Once the snapshot holds its lines, the journal is stale: a crash before it is removed
        # leaves it unused, and the next writer removes it.
        self.journal_path.unlink(missing_ok=True)
        small = data if len(data) < _COMPARE_BELOW_BYTES else None
        new = _State(people, people, _identity(os.stat(self.path)), small, len(data), _sha(data), index=index)
        _cache[self._key] = new
        return new


def _empty() -> _State:
    """The state of a dataset with no snapshot yet."""
    return _State(
        people={}, base={}, snapshot=None, snapshot_bytes=b"", snapshot_size=0, snapshot_sha=_sha(b"")
    )


def _fresh(state: _State, journal: tuple[int, int] | None) -> _State:
    """``state``'s snapshot alone, before any journal line; ``journal``: the journal file to read."""
    index = state.index if state.people is state.base else None
    return replace(state, people=state.base, index=index, journal=journal, live=False, offset=0, seq=0)


def _json_line(line: bytes) -> object | None:
    """A journal line's JSON value, or None when it is not JSON (torn by a crash, or damaged)."""
    try:
        return json.loads(line.decode("utf-8"))
    except ValueError:
        return None
