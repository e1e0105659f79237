"""Find faces on the shared photos as the Dataset page does it: seconds, photos per second, faces kept.

    python -m bench.find_faces [--engine NAME] [--workers N] [--repeat K] [--store folder|postgresql|sqlite]

Each round imports ``raw/`` (one folder per person) into a new dataset in a
temporary folder (timed apart), then runs ``DatasetStore.find_faces`` with
the engine (default: the default engine) and the default number of worker
threads, exactly as the Dataset page's **Find faces** does: detection,
crops written, each face described (identity engines), cached features
saved, the face most like the person chosen in group photos, the manifest
committed. A second search of the same dataset has nothing left to do.

Target (issue "Curate, train and sort"): <= 10 s for the 295 shared photos
with the default engine on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import STORES, bench_store, log, raw_folder
from celeb.dataset import DatasetStore
from celeb.engines import DEFAULT_ENGINE, ENGINE_NAMES

TARGET_SECONDS = 10.0


def one_round(raw: Path, folder: Path, engine: str, workers: int | None, kind: str = "folder") -> dict:
    with bench_store(kind, folder) as store:
        return _timed_round(store, raw, engine, workers)


def _timed_round(store: DatasetStore, raw: Path, engine: str, workers: int | None) -> dict:
    started = time.perf_counter()
    imported = store.import_folders(raw)
    import_seconds = time.perf_counter() - started
    cpu, started = os.times(), time.perf_counter()
    report = store.find_faces(engine=engine, workers=workers)
    seconds = time.perf_counter() - started
    after = os.times()
    again_started = time.perf_counter()
    again = store.find_faces(engine=engine, workers=workers)
    return {
        "photos": len(imported.added),
        "import_s": import_seconds,
        "seconds": seconds,
        "cpu_s": (after.user - cpu.user) + (after.system - cpu.system),
        "faces": report.faces,
        "kept": report.kept,
        "again_s": time.perf_counter() - again_started,
        "again_photos": again.photos,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=ENGINE_NAMES, default=DEFAULT_ENGINE)
    parser.add_argument("--workers", type=int, default=None, help="worker threads (default: find_faces')")
    parser.add_argument("--repeat", type=int, default=3, help="rounds, each on a new dataset (default 3)")
    parser.add_argument("--store", choices=STORES, default="folder", help="where the dataset is kept")
    args = parser.parse_args(argv)
    raw = raw_folder()
    rounds = []
    for index in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="celeb-bench-find-") as scratch:
            figures = one_round(raw, Path(scratch), args.engine, args.workers, args.store)
        log(
            f"round {index + 1}: {figures['photos']} photos, {figures['faces']} faces, "
            f"{figures['kept']} kept in {figures['seconds']:.1f} s ({figures['cpu_s']:.1f} CPU-s)"
        )
        rounds.append(figures)
    seconds = statistics.median(r["seconds"] for r in rounds)
    first = rounds[0]
    print(
        f"find faces, engine {args.engine}, {args.store} store, {os.cpu_count()} cores, "
        f"{args.repeat} rounds (median):"
    )
    print(f"  photos searched                 {first['photos']}")
    print(f"  faces found / kept              {first['faces']} / {first['kept']}")
    print(f"  import of the photos (s)        {statistics.median(r['import_s'] for r in rounds):.1f}")
    verdict = "met" if seconds <= TARGET_SECONDS else "not met"
    print(f"  find faces (s)                  {seconds:.1f}   target <= {TARGET_SECONDS:.0f}: {verdict}")
    print(f"  photos per second               {first['photos'] / seconds:.1f}")
    print(f"  CPU-seconds (both cores)        {statistics.median(r['cpu_s'] for r in rounds):.1f}")
    each = ", ".join(f"{r['seconds']:.1f}" for r in rounds)
    print(f"  rounds (s)                      {each}")
    print(f"  second search, same dataset     {first['again_photos']} photos in {first['again_s']:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
