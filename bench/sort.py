"""Sorting an album: photos per second, and how it scales with the album's size.

    python -m bench.sort [--sizes 300 3000] [--model models/model.joblib]

For each size N, makes an album of N distinct photos from the shared set's
``raw/`` photos (photo i is raw photo i mod 295, re-saved as a JPEG whose
quality and size change a little with each round through the set, so that no
two files are the same), then runs ``celeb.sort.album.sort_photos`` with the model
(two threads on two cores) and prints the seconds, photos per second, the
folders' counts, and the time of a second run over the same album (which
only checks what was done). Needs the shared photo set (CELEB_SHARED_PHOTOS).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from bench.common import list_photos, raw_folder
from celeb.classify import Classifier
from celeb.config import paths
from celeb.errors import ImageError
from celeb.images import read_image
from celeb.model import read_bundle
from celeb.sort.album import sort_photos


def readable_photos(raw: Path) -> list[tuple[Path, Image.Image]]:
    """The raw photos as the app reads them (odd EXIF and all), each decoded once."""
    photos = []
    for photo in list_photos(raw):
        with contextlib.suppress(ImageError):  # a photo the app cannot read either
            photos.append((photo.path, Image.fromarray(read_image(photo.path).rgb)))
    return photos


def make_album(sources: list[tuple[Path, Image.Image]], folder: Path, size: int) -> None:
    """``size`` distinct JPEGs made from the raw photos, in sub-folders of 100."""
    for number in range(size):
        source, photo = sources[number % len(sources)]
        round_ = number // len(sources)
        if round_:
            shrink = 1 - 0.01 * (round_ % 10)
            photo = photo.resize((max(1, round(photo.width * shrink)), max(1, round(photo.height * shrink))))
        target = folder / f"part-{number // 100:03d}" / f"{number:05d}-{source.stem[:40]}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        photo.save(target, quality=90 - round_ % 10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 3000])
    parser.add_argument("--model", type=Path, default=paths().active_model)
    args = parser.parse_args(argv)
    raw = raw_folder()
    classifier = Classifier(read_bundle(args.model)[0])
    classifier.classify(next(p for p in sorted(raw.rglob("*.jpg"))))  # models loaded before timing
    print(f"model: {args.model} ({classifier.bundle.engine} engine)")
    sources = readable_photos(raw)
    print(f"{'photos':>7} {'seconds':>8} {'photos/s':>9} {'second run (s)':>15}  folders")
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix="celeb-bench-sort-") as scratch:
            album, dest = Path(scratch) / "album", Path(scratch) / "sorted"
            make_album(sources, album, size)
            started = time.perf_counter()
            report = sort_photos(album, dest, classifier)
            seconds = time.perf_counter() - started
            started = time.perf_counter()
            again = sort_photos(album, dest, classifier)
            resumed = time.perf_counter() - started
            assert again.classified_now == 0, "a second run sorted photos again"
            counts = ", ".join(f"{folder} {count}" for folder, count in report.folder_counts().most_common())
            print(f"{size:>7} {seconds:>8.1f} {size / seconds:>9.2f} {resumed:>15.2f}  {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
