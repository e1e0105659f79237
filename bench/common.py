"""What the benchmark scripts share: the shared photos, logging, training sets of photos, the 12 MP
photo, and readers of a process's memory and CPU time.

The scripts (``python -m bench.<name>`` from the repository's root) import
only from here, ``bench/serving.py`` (the app and nginx started),
``bench/recipe.py`` (the original recipe) and ``celeb``; none imports another
script.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from celeb.config import IMAGE_SUFFIXES, paths
from celeb.faces import TrainingSet

if TYPE_CHECKING:
    from celeb.dataset import DatasetStore

ROOT = Path(__file__).resolve().parent.parent
STARTED = time.perf_counter()
#: The start of the Classify page's answer for a photo's first face.
ANSWER = r"^Face 1: "


def log(message: str) -> None:
    """A line on stderr with the seconds since the benchmark started."""
    print(f"[{time.perf_counter() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the shared photos


@dataclass(frozen=True)
class RawPhoto:
    key: str  # "<person>/<file name>"
    person: str
    path: Path


def raw_folder() -> Path:
    """The shared photo set's ``raw/`` folder (one sub-folder per person); exits with 2 when absent."""
    folder = paths().shared_photos / "raw"
    if not folder.is_dir():
        print(
            f"bench: the shared photo set is not at {folder}.\n"
            "Put the sports-celebrities set there, or point CELEB_SHARED_PHOTOS at the folder "
            "that holds raw/.",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return folder


def list_photos(folder: Path) -> list[RawPhoto]:
    """Every photo of ``folder``'s person sub-folders, by person then file name (hidden ones left out)."""
    photos = [
        RawPhoto(f"{person.name}/{file.name}", person.name, file)
        for person in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        for file in sorted(person.iterdir())
        if file.suffix.lower() in IMAGE_SUFFIXES and not file.name.startswith(".")
    ]
    if not photos:
        print(f"bench: no photos under {folder}", file=sys.stderr)
        raise SystemExit(2)
    return photos


def twelve_megapixels(folder: Path) -> Path:
    """A shared-set photo of Serena Williams enlarged to 4000 x 3000 (JPEG, quality 90), in ``folder``."""
    source = next(p for p in sorted((paths().shared_photos / "raw" / "serena_williams").iterdir()))
    image = Image.open(source).convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC)
    path = folder / "twelve-megapixels.jpg"
    image.save(path, quality=90)
    return path


# ---------------------------------------------------------------- training sets


def photo_training_set(
    photos: list[RawPhoto], kept: Mapping[str, np.ndarray | None], index: Iterable[int]
) -> TrainingSet:
    """The rows of the photos at ``index``: each one's kept face (and copies), labelled with its person."""
    rows, labels, groups, copies = [], [], [], []
    for i in index:
        vectors = kept[photos[i].key]
        if vectors is None:
            continue
        for copy, vector in enumerate(vectors):
            rows.append(vector)
            labels.append(photos[i].person)
            groups.append(photos[i].key)
            copies.append(bool(copy))
    return TrainingSet(
        np.asarray(rows, dtype=np.float32),
        np.asarray(labels, dtype=object),
        np.asarray(groups),
        np.asarray(copies),
    )


# ---------------------------------------------------------------- processes (Linux: /proc)


def children(pid: int) -> list[int]:
    """A process's direct children."""
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(child) for child in found]


def process_tree(pid: int) -> list[int]:
    """A process and all its descendants (chromium's renderers are its zygote's children)."""
    found = [pid]
    for child in children(pid):
        found += process_tree(child)
    return found


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    total = 0
    for process in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{process}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the living processes used so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / os.sysconf("SC_CLK_TCK")


STORES = ("folder", "postgresql", "sqlite")


@contextlib.contextmanager
def bench_store(kind: str, folder: Path) -> Iterator[DatasetStore]:
    """An empty dataset store of ``kind`` (see ``STORES``) with its files under ``folder``.

    PostgreSQL: the database of ``CELEB_BENCH_DATABASE_URL`` (it must be empty), else a private
    server started for the run from Debian's binaries, as the tests start theirs
    (tests/postgres_server.py), on this machine: the figures then leave out a network's latency.
    """
    from celeb.database import database
    from celeb.dataset import DatasetStore

    if kind == "folder":
        yield DatasetStore(folder / "dataset")
    elif kind == "sqlite":
        yield DatasetStore(folder / "work", database=database(f"sqlite:///{folder / 'celeb.db'}"))
    elif os.environ.get("CELEB_BENCH_DATABASE_URL"):
        yield DatasetStore(folder / "work", database=database(os.environ["CELEB_BENCH_DATABASE_URL"]))
    else:
        spec = importlib.util.spec_from_file_location(
            "postgres_server", Path(__file__).resolve().parent.parent / "tests" / "postgres_server.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        server = module.PostgresServer.start()
        try:
            url = server.create_database("bench")
            log(f"a private PostgreSQL server for the run: {server.url('bench').split('@')[-1]}")
            yield DatasetStore(folder / "work", database=database(url))
        finally:
            server.stop()
