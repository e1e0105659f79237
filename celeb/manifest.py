"""The dataset's records and their file, ``manifest.json``: reading it (with migration from older
forms), checking every path and field it names, and writing it.

The JSON field names on disk are the record fields: a manifest written by an
older version stays readable (see :func:`_photo_from_json`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from .config import MAX_MANIFEST_BYTES
from .engines import LEGACY_ENGINE
from .errors import DatasetError, InvalidNameError, ManifestError
from .names import same_person, validate_name
from .storage import read_regular_file, utc_timestamp

MANIFEST_VERSION = 1

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
        {"version": MANIFEST_VERSION, "people": {slug: asdict(p) for slug, p in people.items()}},
        ensure_ascii=False,
        indent=1,
    )


def read_manifest(path: Path) -> dict[str, PersonRecord]:
    """The people of the manifest at ``path`` ({} when there is none yet); ManifestError when it
    is unreadable, of another version, damaged, or names a path outside the dataset."""
    try:
        text = read_regular_file(path, MAX_MANIFEST_BYTES).decode("utf-8")
        raw = json.loads(text)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ManifestError(f"the dataset manifest {path} is unreadable: {exc.strerror or exc}") from exc
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
    return next((p for p in people.values() if same_person(p.name, name)), None)


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
