"""Adding photos to a store: the time one photo costs as the dataset grows (issue 20, 22).

    python -m bench.dataset_store [--store folder|postgresql|sqlite] [--sizes 30 300 3000]
                                  [--per-person 10] [--adds 25]

``--store postgresql`` uses ``CELEB_BENCH_DATABASE_URL``, else a private server
(bench.common.bench_store).

A new dataset in a temporary folder is filled with small generated JPEGs
(64x64 noise, distinct bytes), ``--per-person`` photos to a person, through
``DatasetStore.add_photo`` one by one. At each size it prints the median time
of ``--adds`` further ``add_photo`` calls (a new person every
``--per-person`` photos, as an import of many people has), the mean time of
every ``add_photo`` since the previous size (so including the rare ones that
rewrite the whole manifest), the time per photo of ``import_folders`` on a
folder of 2 people x 20 photos, and the time of ``records()`` with nothing
changed (what every page run reads). Every photo added is real: written,
synced, recorded.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.common import STORES, bench_store, log
from celeb.dataset import DatasetStore


def noise_jpeg(seed: int) -> bytes:
    """A 64x64 JPEG of random pixels: distinct bytes for every seed."""
    pixels = np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


class Filler:
    """Adds photos to ``store``, a new person every ``per_person`` photos."""

    def __init__(self, store: DatasetStore, per_person: int) -> None:
        self.store, self.per_person, self.count = store, per_person, 0
        self.times: list[float] = []  # of every add_photo

    def add(self) -> float:
        """Add one photo; the seconds ``add_photo`` took (a new person's add_person not counted)."""
        name = f"Person {self.count // self.per_person:05d}"
        if self.count % self.per_person == 0:
            self.store.add_person(name)
        data = noise_jpeg(self.count)
        started = time.perf_counter()
        report = self.store.add_photo(name, data, f"{self.count}.jpg")
        seconds = time.perf_counter() - started
        assert report.added == [f"{self.count}.jpg"], report
        self.count += 1
        self.times.append(seconds)
        return seconds


def import_folder_seconds(store: DatasetStore, folder: Path, first_seed: int) -> tuple[float, int]:
    """Seconds per photo of ``import_folders`` on 2 new people x 20 photos; the photos it added."""
    for person in range(2):
        sub = folder / f"imported_{first_seed}_{person}"
        sub.mkdir(parents=True)
        for index in range(20):
            (sub / f"{index}.jpg").write_bytes(noise_jpeg(10**9 + first_seed + person * 20 + index))
    started = time.perf_counter()
    report = store.import_folders(folder)
    seconds = time.perf_counter() - started
    assert len(report.added) == 40 and not report.skipped, report.summary()
    for sub in list(folder.iterdir()):
        for file in sub.iterdir():
            file.unlink()
        sub.rmdir()
    return seconds / 40, 40


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 300, 3000])
    parser.add_argument("--per-person", type=int, default=10)
    parser.add_argument("--adds", type=int, default=25)
    parser.add_argument("--store", choices=STORES, default="folder")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="bench-store-") as temporary,
        bench_store(args.store, Path(temporary)) as store,
    ):
        print(f"store: {args.store}")
        filler = Filler(store, args.per_person)
        incoming = Path(temporary) / "incoming"
        incoming.mkdir()
        imported = 0
        print(
            "| photos in the store | add_photo, median ms | add_photo, mean ms since the size before "
            "| import_folders, ms a photo | records(), ms |"
        )
        print("| --- | --- | --- | --- | --- |")
        for size in sorted(args.sizes):
            started, first = time.perf_counter(), len(filler.times)
            while filler.count + imported < size:
                filler.add()
            log(f"filled to {size} photos in {time.perf_counter() - started:.1f}s")
            adds = [filler.add() for _ in range(args.adds)]
            since = filler.times[first:]
            per_photo, count = import_folder_seconds(store, incoming, filler.count + imported)
            imported += count
            reads = []
            for _ in range(9):
                started = time.perf_counter()
                people = store.records()
                reads.append(time.perf_counter() - started)
            assert sum(len(p.photos) for p in people.values()) == filler.count + imported
            print(
                f"| {size} | {statistics.median(adds) * 1000:.1f} | {statistics.mean(since) * 1000:.1f} "
                f"| {per_photo * 1000:.1f} | {statistics.median(reads) * 1000:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
