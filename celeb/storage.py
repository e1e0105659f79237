"""Writing files so that a crash or a second process never leaves half a file."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` so that ``path`` holds either the old or the new bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; others may read photos and models
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


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
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    descriptor = os.open(path, flags)
    with os.fdopen(descriptor, "rb", buffering=0) as file:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file (a pipe or a device)"
            raise NotARegularFileError(errno.EINVAL, f"this is {kind}", str(path))
        if info.st_size > limit:
            raise FileTooLargeError(info.st_size, limit)
        chunks, size = [], 0
        while size <= limit:
            chunk = file.read(min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    if size > limit:  # it grew while being read, or its size was not what fstat said
        raise FileTooLargeError(None, limit)
    return b"".join(chunks)


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
