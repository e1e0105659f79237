"""Where sort reads and writes: the album and the destination may be used (:func:`check_places`),
and the errors sort raises when they may not, or cannot be written."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ..errors import CelebError
from .report import UNKNOWN, valid_text


class SortError(CelebError):
    """The album or the destination cannot be used (the message says why)."""


class SortUsageError(SortError):
    """The places named cannot be sorted from or into: the album is not a folder, the destination
    is a file, or the two overlap (the command line's exit status 2)."""


class DestinationError(SortError):
    """The destination cannot be written (read-only, full, no permission, a link where a folder
    should be, another sort writing there). What was filed stays, and a rerun resumes."""


def check_places(album: Path, dest: Path) -> None:
    """Raise :class:`SortUsageError` unless ``album`` is a folder, ``dest`` is a folder or not made
    yet, and neither is the other or inside it, however they are named (links, a case-insensitive
    file system, a bind mount): sort only reads the album, and writes and removes files in
    ``dest``. A link in ``dest`` (where sort writes) into the album is refused too."""
    album, dest = Path(album), Path(dest)
    if not album.is_dir():
        raise SortUsageError(f"{shown(album)} is not a folder")
    if dest.exists() and not dest.is_dir():
        raise SortUsageError(f"{shown(dest)} is not a folder")
    if inside(dest, album):
        raise SortUsageError(
            "the destination must not be the album or inside it (the album is only read, "
            "and the destination would be sorted again next time)"
        )
    if inside(album, dest):
        raise SortUsageError(
            "the album must not be inside the destination (sort writes and removes files there; "
            "the album is only read)"
        )
    for folder in (dest, dest / UNKNOWN):
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder):
                if entry.is_symlink() and inside(Path(entry.path), album):
                    raise SortUsageError(f"{shown(Path(entry.path))} is a link into the album")


def inside(inner: Path, outer: Path) -> bool:
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


def shown(path: Path) -> str:
    return valid_text(str(path))


def cannot_write(path: Path, exc: OSError) -> DestinationError:
    return DestinationError(f"cannot write in {shown(path)}: {exc.strerror or exc}")
