"""``python -m celeb store copy SRC DEST``: a dataset and its models from one store into another
(a folder into a database, and back), resumable and checked.

Files go first, a batch per change, each skipped when DEST has it already with the same
SHA-256 (so a copy stopped halfway resumes where it was); then the records, in one change, only
once every file they name is in place; then every photo of DEST is read back and its SHA-256
compared with its record's. DEST must be empty, or hold what an earlier copy of SRC left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .dataset import DatasetStore
from .errors import DatasetError
from .manifest import _person_from_json, _person_json, content_hash, manifest_text
from .registry import ModelRegistry
from .storage import write_atomic
from .stores import StoreLocation, store_location

#: Files written to DEST per change.
COPY_BATCH_FILES = 50


@dataclass
class CopyReport:
    people: int = 0
    photos: int = 0
    files_copied: int = 0
    files_already_there: int = 0
    model_files: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.people} people, {self.photos} photos; {self.files_copied} files copied, "
            f"{self.files_already_there} already there; {self.model_files} model files"
        )


def location_of(where: str) -> StoreLocation:
    """A store named on the command line: a database URL, or a folder.

    A folder with ``manifest.json`` is a dataset, its models in ``models/`` beside it; any other
    folder holds ``dataset/`` and ``models/`` (as the repository does).
    """
    if "://" in where:
        return store_location(where)
    folder = Path(where).expanduser()
    if (folder / "manifest.json").is_file():
        return StoreLocation("", folder, folder.parent / "models", folder.parent / "models")
    return StoreLocation("", folder / "dataset", folder / "models", folder / "models")


def copy_store(
    source: StoreLocation, target: StoreLocation, progress: Callable[[int, int], None] | None = None
) -> CopyReport:
    """Copy the dataset and the models of ``source`` into ``target`` (see the module)."""
    if source.database_url == target.database_url and source.dataset.resolve() == target.dataset.resolve():
        raise DatasetError("SRC and DEST are the same store")
    if not source.database_url and not (source.dataset / "manifest.json").is_file():
        raise DatasetError(f"{source.dataset} holds no dataset (no manifest.json)")
    src = source.open_dataset(read_only=True)
    dest = target.open_dataset()
    people = src.records()
    already = dest.records()
    if already and manifest_text(already) != manifest_text(people):
        raise DatasetError("DEST already holds another dataset (or a changed one): copy into an empty store")
    report = CopyReport(people=len(people), photos=sum(len(p.photos) for p in people.values()))
    keys = sorted(
        {photo.stored for p in people.values() for photo in p.photos.values()}
        | {dest.crop_key(p.slug, crop_id) for p in people.values() for crop_id in p.crops}
    )
    _copy_files(src, dest, keys, report, progress)
    if not already and report.problems:
        # The records name every file: they go in only once all of them are in DEST.
        report.problems.append("the records were not copied: copy again once every file can be read")
    elif not already:
        with dest.editing() as edit:
            for slug, person in people.items():
                edit[slug] = _person_from_json(_person_json(person))
    _check_photos(dest, report)
    report.model_files = _copy_models(source, target)
    return report


def _copy_files(
    src: DatasetStore,
    dest: DatasetStore,
    keys: list[str],
    report: CopyReport,
    progress: Callable[[int, int], None] | None,
) -> None:
    have = dest.stored_digests(keys)
    for start in range(0, len(keys), COPY_BATCH_FILES):
        batch = keys[start : start + COPY_BATCH_FILES]
        wanted = []
        for key in batch:
            try:
                data = (src.root / key).read_bytes()
            except OSError as exc:
                report.problems.append(f"{key}: cannot be read in SRC ({exc.strerror or exc})")
                continue
            if have.get(key) == content_hash(data):
                report.files_already_there += 1
            else:
                wanted.append((key, data))
        if wanted:
            with dest.editing():  # no record changes: one transaction (or lock) for the batch
                for key, data in wanted:
                    dest.put_file(key, data)
            report.files_copied += len(wanted)
        if progress is not None:
            progress(min(start + COPY_BATCH_FILES, len(keys)), len(keys))


def _check_photos(dest: DatasetStore, report: CopyReport) -> None:
    """Every photo of ``dest`` read back: its SHA-256 must be its record's."""
    for person in dest.records().values():
        for sha, photo in person.photos.items():
            try:
                data = (dest.root / photo.stored).read_bytes()
            except OSError:
                data = b""
            if content_hash(data) != sha:
                report.problems.append(f"{person.name}: {photo.filename} is not the photo recorded")


def _copy_models(source: StoreLocation, target: StoreLocation) -> int:
    """The models folder's files (active model, card, history); how many."""
    src = source.open_models(read_only=True)
    if source.database_url:
        src.shipped = None  # the database's own models only, never the repository's
    src.active_version()  # a database's working copy brought up to date
    names = sorted(src.file_names())
    if not names:
        return 0
    dest: ModelRegistry = target.open_models()
    with dest._locked():
        for name in names:
            write_atomic(dest.root / name, (src.root / name).read_bytes())
    return len(names)
