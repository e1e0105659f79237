"""Photos in bulk: files and folders, zips (refusing hostile entries: links, paths that leave the
folder, too many files, too many bytes), a folder of people folders (as a zip or a browser's folder
upload, with a preview), and the curated dataset exported as one zip.

The functions that change a dataset take its :class:`~celeb.dataset.DatasetStore`, whose methods
of the same names call them.
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from .config import IMAGE_SUFFIXES, MAX_FILE_BYTES, MAX_ZIP_BYTES, MAX_ZIP_MEMBERS
from .errors import DatasetError, InvalidNameError
from .manifest import KEPT, find_person, manifest_text
from .names import display_name, person_key, validate_name
from .storage import FileTooLargeError, read_regular_file

if TYPE_CHECKING:
    from .dataset import DatasetStore


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


# ---------------------------------------------------------------- importing


def add_files(store: DatasetStore, name: str, paths: Iterable[Path]) -> AddReport:
    """Add photos from files (a folder's contents, say)."""
    store.require_writable()

    def photos() -> Iterator[tuple[str, bytes | None, str]]:
        for path in paths:
            path = Path(path)
            if path.is_dir() or path.name.startswith("."):
                continue
            try:
                # Regular files only, at most the limit + 1 bytes: a FIFO named x.jpg, a link to
                # /dev/zero or a sparse 3 GB file is skipped, never waited on or read whole.
                data = read_regular_file(path, MAX_FILE_BYTES)
            except FileTooLargeError as exc:
                yield path.name, None, exc.strerror
                continue
            except OSError as exc:
                yield path.name, None, f"cannot be read ({exc.strerror or exc})"
                continue
            yield path.name, data, ""

    return store.add_photos(name, photos())


def add_zip(store: DatasetStore, name: str, source: bytes | Path) -> AddReport:
    """Add every photo in a zip; hostile or non-image entries are reported."""
    store.require_writable()
    with _open_zip(source) as archive:
        entries = _zip_files(archive)
        return store.add_photos(
            name, ((entry.filename, *_read_zip_entry(archive, entry)) for entry in entries)
        )


def import_zip_folders(
    store: DatasetStore, source: bytes | Path, progress: Callable[[int, int], None] | None = None
) -> dict[str, AddReport]:
    """Add a zip that holds one folder of photos per person (see :func:`people_in_paths`).

    People are added as needed (``lionel_messi`` becomes "Lionel Messi"; a
    person already there, whatever the case, gets the photos). Returns what
    happened per person; entries that are in no person's folder, or refused
    (see ``add_zip``), are reported under "".
    """
    store.require_writable()
    reports: dict[str, AddReport] = {}
    with _open_zip(source) as archive:
        entries = _zip_files(archive)
        usable = [entry for entry in entries if not _zip_read_problem(entry)]
        groups, outside = people_in_paths([entry.filename for entry in usable])
        refused = [(e.filename, _zip_read_problem(e)) for e in entries if _zip_read_problem(e)]
        if refused or outside:
            reports[""] = AddReport(skipped=refused + outside)

        def read(index: int) -> tuple[str, bytes | None, str]:
            entry = usable[index]
            return (entry.filename, *_read_zip_entry(archive, entry))

        _add_people(store, groups, read, reports, progress)
    return reports


def import_named_files(
    store: DatasetStore,
    files: Sequence[tuple[str, bytes]],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, AddReport]:
    """Add files named by their path in a folder of people folders (a browser's folder upload).

    Like :meth:`import_zip_folders`, with (relative path, bytes) pairs.
    """
    store.require_writable()
    reports: dict[str, AddReport] = {}
    refused = [(path, _path_problem(path)) for path, _ in files if _path_problem(path)]
    usable = [(path, data) for path, data in files if not _path_problem(path)]
    groups, outside = people_in_paths([path for path, _ in usable])
    if refused or outside:
        reports[""] = AddReport(skipped=refused + outside)

    def read(index: int) -> tuple[str, bytes | None, str]:
        path, data = usable[index]
        if len(data) > MAX_FILE_BYTES:
            return path, None, f"{len(data) / 2**20:.0f} MB, over the limit for one photo"
        return path, data, ""

    _add_people(store, groups, read, reports, progress)
    return reports


def _add_people(
    store: DatasetStore,
    groups: dict[str, list[int]],
    read: Callable[[int], tuple[str, bytes | None, str]],
    reports: dict[str, AddReport],
    progress: Callable[[int, int], None] | None,
) -> None:
    """Add each people folder's files (``read`` gives a file's name, and its bytes or why not)."""
    total, done = sum(len(indices) for indices in groups.values()), 0
    for folder_name, indices in groups.items():
        name = _person_for_folder(store, folder_name)

        def photos(indices: list[int] = indices) -> Iterator[tuple[str, bytes | None, str]]:
            nonlocal done
            for index in indices:
                filename, data, why = read(index)
                yield filename, data, why if data is None else ""
                done += 1  # asked for the next photo: this one is staged
                if progress:
                    progress(done, total)

        reports.setdefault(name, AddReport()).merge(store.add_photos(name, photos()))


def _person_for_folder(store: DatasetStore, name: str) -> str:
    """The person a folder's photos go to: one already there (same_person), or a new one."""
    existing = find_person(store.records(), name)
    return existing.name if existing else store.add_person(name).name


def import_folders(store: DatasetStore, root: Path) -> AddReport:
    """Add a folder that holds one sub-folder of photos per person."""
    store.require_writable()
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
        name = _person_for_folder(store, name)
        report.merge(add_files(store, name, sorted(folder.iterdir())))
    return report


def export_zip(store: DatasetStore) -> bytes:
    """The curated dataset: each person's photos and kept crops, plus the manifest."""
    buffer = io.BytesIO()
    people = store.records()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("manifest.json", manifest_text(people))
        for person in people.values():
            files = [photo.stored for photo in person.photos.values()]
            kept = [crop for crop in person.crops.values() if crop.status == KEPT]
            files += [f"{person.slug}/crops/{crop.id}.png" for crop in kept]
            for name in files:
                data = _dataset_file(store, name)
                if data is not None:
                    archive.writestr(name, data)
    return buffer.getvalue()


def _dataset_file(store: DatasetStore, name: str) -> bytes | None:
    """The bytes of the dataset's file ``name``, or None when it is missing or not the dataset's.

    The manifest's paths are plain relative paths (checked on load), but a
    file or folder on the way may be a symbolic link: only what resolves
    inside the dataset folder, and is a regular file, is read.
    """
    path = store.root / name
    try:
        if not path.resolve().is_relative_to(store.root.resolve()):
            return None
        return read_regular_file(path, MAX_FILE_BYTES)
    except OSError:
        return None


# ---------------------------------------------------------------- zips and paths


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
