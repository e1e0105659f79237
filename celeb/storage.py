"""Writing files so that a crash or a second process never leaves half a file."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import stat
import tempfile
import threading
import time
from pathlib import Path

from .config import STALE_TEMPORARY_SECONDS

#: write_atomic's temporary files are ``.<name>.<random>.tmp`` next to their target.
_TEMPORARY_PREFIX, _TEMPORARY_SUFFIX = ".", ".tmp"

# Folders already cleaned by this process: opening a folder for writing happens on every
# page run, walking it once per process is enough.
_cleaned: set[Path] = set()
_cleaned_lock = threading.Lock()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` so that ``path`` holds either the old or the new bytes."""
    StagedFile(path, data).commit()


class StagedFile:
    """``data`` written and synced beside ``path`` under a temporary name; :meth:`commit` puts it
    in place (an atomic rename), :meth:`discard` drops it.

    The slow part (writing, syncing) can so run outside a lock, and only the rename under it:
    a writer that learns under the lock that its file is no longer wanted (another process
    wrote that record meanwhile) discards it and has overwritten nothing.
    """

    def __init__(self, path: Path, data: bytes) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=self.path.parent, prefix=f"{_TEMPORARY_PREFIX}{self.path.name}.", suffix=_TEMPORARY_SUFFIX
        )
        self.temporary = Path(temporary)
        try:
            os.chmod(temporary, 0o644)  # mkstemp makes 0600; others may read photos and models
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
        except BaseException:
            self.discard()
            raise

    def commit(self) -> None:
        try:
            os.replace(self.temporary, self.path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        self.temporary.unlink(missing_ok=True)


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path``, refused when it holds more than ``limit`` bytes.

    A name says nothing of what is behind it: a FIFO named ``x.jpg`` would
    block a plain read forever, a symlink to ``/dev/zero`` never ends, and a
    sparse file's size costs nothing to fake. So the file is opened without
    blocking, the opened descriptor (not the name, which could be swapped
    meanwhile) must be a regular file, and at most ``limit`` + 1 bytes are
    read whatever its size claims. Raises OSError (with ``strerror`` set)
    or :class:`FileTooLargeError`.
    """
    return read_regular_file_and_stat(path, limit)[0]


def read_regular_file_and_stat(path: Path, limit: int, offset: int = 0) -> tuple[bytes, os.stat_result]:
    """:func:`read_regular_file`, with the ``os.fstat`` of the very file read (not of whatever the
    name leads to a moment later): what a cache of the file's contents keys on. With ``offset``,
    only the bytes from there on (the limit still counts the whole file)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    descriptor = os.open(path, flags)
    with os.fdopen(descriptor, "rb", buffering=0) as file:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file (a pipe or a device)"
            raise NotARegularFileError(errno.EINVAL, f"this is {kind}", str(path))
        if info.st_size > limit:
            raise FileTooLargeError(info.st_size, limit)
        if offset:
            file.seek(offset)
        chunks, size = [], offset
        while size <= limit:
            chunk = file.read(min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    if size > limit:  # it grew while being read, or its size was not what fstat said
        raise FileTooLargeError(None, limit)
    return b"".join(chunks), info


def append_synced(path: Path, data: bytes, *, at: int, file_id: tuple[int, int]) -> os.stat_result:
    """Append ``data`` to the file ``path`` (holding ``at`` bytes that count) and sync it; its fstat.

    Meant for a journal whose writers hold a lock. Bytes past ``at`` are what a writer killed
    mid-append left (a torn line, never reported written): they are cut first. A failed or
    interrupted append is cut back to ``at``, so that the file ends on its last whole record.
    ``file_id`` is the (device, inode) the caller read: another file under that name is refused
    (OSError), never cut.
    """
    flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    descriptor = os.open(path, flags)
    try:
        info = os.fstat(descriptor)
        if (info.st_dev, info.st_ino) != file_id or not stat.S_ISREG(info.st_mode) or info.st_size < at:
            raise OSError(errno.ESTALE, "the file was replaced or cut while it was locked", str(path))
        if info.st_size > at:
            os.ftruncate(descriptor, at)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
            os.fsync(descriptor)
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(descriptor, at)
            raise
        return os.fstat(descriptor)
    finally:
        os.close(descriptor)


class NotARegularFileError(OSError):
    """The path names a FIFO, a device or a folder, not a file with bytes to read."""


class FileTooLargeError(OSError):
    """The file holds more bytes than the caller's limit."""

    def __init__(self, size: int | None, limit: int) -> None:
        def mb(count: int) -> str:
            return f"{count / 2**20:.0f} MB" if count >= 2**20 else f"{count} bytes"

        what = "the file is over" if size is None else f"the file is {mb(size)}, over"
        super().__init__(errno.EFBIG, f"{what} the limit of {mb(limit)}")
        self.size, self.limit = size, limit


def clean_up_once(root: Path) -> None:
    """Remove what interrupted writes left under ``root``, the first time this process opens it."""
    key = Path(os.path.abspath(root))
    with _cleaned_lock:
        if key in _cleaned:
            return
        _cleaned.add(key)
    remove_stale_temporaries(key)


def remove_stale_temporaries(root: Path, min_age: float = STALE_TEMPORARY_SECONDS) -> list[Path]:
    """Delete write_atomic's temporary files under ``root`` older than ``min_age`` seconds.

    A write killed between creating its temporary file and renaming it leaves
    the file behind (the ``except`` in write_atomic never runs); younger files
    may belong to a write still in progress in another process, and are kept.
    Returns the files removed.
    """
    removed = []
    oldest = time.time() - min_age
    for folder, _, names in os.walk(root):  # never follows symbolic links to other folders
        for name in names:
            if not (name.startswith(_TEMPORARY_PREFIX) and name.endswith(_TEMPORARY_SUFFIX)):
                continue
            path = Path(folder, name)
            try:
                if path.is_symlink() or path.stat().st_mtime > oldest:
                    continue
                path.unlink()
            except OSError:  # gone meanwhile, or not ours to remove: the next start tries again
                continue
            removed.append(path)
    return removed


def utc_timestamp() -> str:
    """The time now as records and model files store it: ISO 8601 in UTC, to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
