"""The destination folder, the one place sort writes in: its lock, the copies sort makes there and
the only files it removes (its own copies, unchanged since)."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from ..storage import remove_stale_temporaries
from .places import DestinationError, SortUsageError, cannot_write, inside, shown
from .report import valid_text

#: The temporary files sort writes its copies, state and report through, before they take their name.
TEMPORARY_PREFIX, TEMPORARY_SUFFIX = ".celeb-sort-", ".tmp"


@contextlib.contextmanager
def only_sort_in(dest: Path) -> Iterator[bool]:
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
        raise cannot_write(dest, exc) from exc
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked = True
        except BlockingIOError:
            raise DestinationError(f"another sort is writing in {shown(dest)}: wait for it to end") from None
        except OSError:  # a file system without locks
            locked = False
        yield locked
    finally:
        os.close(handle)  # releases the lock


def remove_temporaries(dest: Path, any_age: bool) -> None:
    """Remove what killed writes left in ``dest`` (never elsewhere): sort's own temporary files,
    of any age when this run holds the lock on ``dest``, and write_atomic's once they are stale."""
    if any_age:
        for folder, _, names in os.walk(dest):  # never follows a link
            for name in names:
                if name.startswith(TEMPORARY_PREFIX) and name.endswith(TEMPORARY_SUFFIX):
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(folder, name))
    remove_stale_temporaries(dest)


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
            raise cannot_write(self.root, exc) from exc

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
                raise DestinationError(f"{shown(path)} is not a folder name sort writes in")
            try:
                if make:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(walked)
                info = os.lstat(walked)
            except OSError as exc:
                raise cannot_write(walked, exc) from exc
            if stat.S_ISLNK(info.st_mode) and inside(walked, self.album):
                raise SortUsageError(f"{shown(walked)} is a link into the album")
            if not stat.S_ISDIR(info.st_mode):
                kind = "a link" if stat.S_ISLNK(info.st_mode) else "a file"
                raise DestinationError(f"{shown(walked)} is {kind}: sort writes only in folders")
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
            raise cannot_write(folder, exc) from exc
        finally:
            if staged is not None:
                with contextlib.suppress(OSError):
                    staged.unlink(missing_ok=True)
        raise DestinationError(f"too many photos named {valid_text(name)} in {shown(folder)}")

    def write(self, name: str, data: bytes) -> None:
        """Write the file ``name`` at the top of the destination (the state, the report): it holds
        either the old or the new bytes."""
        staged = self._stage(self.root, data)
        try:
            os.replace(staged, self.root / name)
        except OSError as exc:
            with contextlib.suppress(OSError):
                staged.unlink(missing_ok=True)
            raise cannot_write(self.root, exc) from exc

    def copies_made(self) -> dict[str, tuple[int, int]]:
        """The copies sort made here (their path inside the destination, size and modification
        time), in path order: what the state file records (celeb.sort.resume)."""
        with self._lock:
            return dict(sorted(self.written.items()))

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
                raise cannot_write(path.parent, exc) from exc
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
            raise cannot_write(folder, exc) from exc
        try:
            os.chmod(temporary, 0o644)  # mkstemp makes 0600; others may read the photos
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
        except OSError as exc:
            Path(temporary).unlink(missing_ok=True)
            raise cannot_write(folder, exc) from exc
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
