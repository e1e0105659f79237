"""Who is named, and who is called unknown: the open-set rule measured on people it never saw.

Two sets, each through the library's own steps (``describe_faces``, automatic cleaning's
``faces_most_like``, ``make_gallery``, ``OpenSetRule.name_faces``):

- the shared photos (``sports-celebrities/raw``, five people): leave one person out (train on
  four people's training photos, the fifth's every photo is a stranger's), over 4 stratified
  75/25 photo splits; known people's test photos of the same splits;
- ``lfw-half`` (``CELEB_LFW_HALF`` overrides its path): its 75 people, a quarter of each
  person's photos held out, and its 240 photos of 120 strangers; a face is the one nearest the
  centre (LFW's photos are centred on their person).

For each strictness (and the old rule: the 99th percentile of same-person distances capped at
0.6, no margin), it prints: strangers answered unknown (a photo none of whose faces gets a
name), known people named right (their name on a face, no other name), named wrong, answered
unknown, and photos naming one person on two faces. Faces are described once and cached in
``bench/out/`` (about 2 minutes the first time on 2 cores).

    python -m bench.open_set                 # both sets
    python -m bench.open_set --set shared    # one
    python -m bench.open_set --detector hog+mtcnn   # another detector than the default's
"""

from __future__ import annotations

import argparse
import pickle
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bench.common import ROOT, RawPhoto, list_photos, log, raw_folder
from celeb.classify import describe_faces
from celeb.config import DECODE_MAX_SIDE, DEFAULT_STRICTNESS, MAX_DISTANCE_THRESHOLD, STRICTNESS, paths
from celeb.cropping import faces_most_like
from celeb.engines import get_engine
from celeb.engines.detectors import DEFAULT_DETECTOR, DETECTORS
from celeb.errors import ImageError
from celeb.images import read_image
from celeb.model import Gallery
from celeb.open_set import OpenSetRule, crowd_faces

OUT = ROOT / "bench" / "out"
SPLITS = 4
#: A person with this many training photos or fewer counts as one with few (issue 20).
FEW_PHOTOS = 10


@dataclass(frozen=True)
class Described:
    """One photo's faces as the engine sees them: vectors and sizes (the longer side of each box;
    largest face first), and the index of the face nearest the photo's centre."""

    vectors: np.ndarray  # (faces, 128)
    central: int
    sizes: tuple[int, ...]


def lfw_folder() -> Path | None:
    folder = paths().lfw_half
    return folder if (folder / "people").is_dir() else None


def describe_all(photos: list[RawPhoto], cache: Path, detector: str) -> dict[str, Described | None]:
    """Every photo's faces (cached in ``cache``, keyed by path, size, modification time and the
    engine's settings)."""
    # key -> (vectors, central, sizes) or None: plain values, so any script can read it
    known: dict = {}
    if cache.is_file():
        known = pickle.loads(cache.read_bytes())
    # Today's settings with another detector: settings that name a detector alone are a stored
    # model's, which keeps what it was made with.
    engine = get_engine("embeddings", {**get_engine("embeddings").settings(), "detector": detector})

    def key(photo: RawPhoto) -> tuple:
        status = photo.path.stat()
        # The detector decides which faces there are: faces found by another are found again.
        settings = repr(sorted(engine.settings().items()))
        return (str(photo.path), status.st_size, status.st_mtime_ns, settings, "vectors, central, sizes")

    def describe(photo: RawPhoto) -> tuple[np.ndarray, int, tuple[int, ...]] | None:
        try:
            image = read_image(photo.path, max_side=DECODE_MAX_SIDE)
        except (ImageError, OSError):
            return None
        faces = describe_faces(engine, image.rgb)
        if not faces:
            return None
        height, width = image.rgb.shape[:2]
        boxes = [f.face.box for f in faces]
        centres = [abs(b.x + b.w / 2 - width / 2) + abs(b.y + b.h / 2 - height / 2) for b in boxes]
        return (
            np.stack([f.features for f in faces]),
            int(np.argmin(centres)),
            tuple(b.side for b in boxes),
        )

    todo = [photo for photo in photos if key(photo) not in known]
    if todo:
        log(f"describing {len(todo)} photos (cached in {cache.relative_to(ROOT)})")
        with ThreadPoolExecutor(max_workers=2) as pool:
            for photo, found in zip(todo, pool.map(describe, todo), strict=True):
                known[key(photo)] = found
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(known))
    return {photo.key: known[key(photo)] and Described(*known[key(photo)]) for photo in photos}


def kept_faces(photos: list[RawPhoto], described: dict[str, Described | None]) -> dict[str, np.ndarray]:
    """The face Find faces would keep in each photo (the one most like its person's other photos)."""
    kept = {}
    for person in sorted({p.person for p in photos}):
        keys = [p.key for p in photos if p.person == person and described[p.key] is not None]
        for key, choice in zip(keys, faces_most_like([described[k].vectors for k in keys]), strict=True):
            kept[key] = described[key].vectors[choice]
    return kept


def splits(photos: list[RawPhoto], count: int, seed: int = 0) -> list[set[str]]:
    """``count`` stratified 75/25 splits: the test photos' keys of each."""
    rng = np.random.default_rng(seed)
    result = []
    for _ in range(count):
        test = set()
        for person in sorted({p.person for p in photos}):
            keys = [p.key for p in photos if p.person == person]
            test |= set(rng.choice(keys, size=max(1, round(len(keys) / 4)), replace=False).tolist())
        result.append(test)
    return result


def rules(vectors: np.ndarray, labels: list[str], groups: list[str]) -> dict[str, OpenSetRule]:
    fitted = OpenSetRule.fit(vectors, labels, groups)
    found = {name: fitted.with_strictness(name) for name in STRICTNESS}
    found[f"{DEFAULT_STRICTNESS}, a crowd's faces judged as any (before issue 23)"] = replace(
        found[DEFAULT_STRICTNESS], crowd_distance_cut=0.0
    )
    found["distance only (the rule before: 0.99 quantile, no margin)"] = OpenSetRule(
        min(fitted.same_person_distance, MAX_DISTANCE_THRESHOLD), 0.0, crowd_distance_cut=0.0
    )
    return found


@dataclass
class Tally:
    stranger_photos: int = 0
    stranger_named: int = 0
    known_photos: int = 0
    known_right: int = 0
    known_wrong: int = 0
    known_unknown: int = 0
    twice: int = 0

    def add(self, other: Tally) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def judge(
    rule: OpenSetRule, gallery: Gallery, tests: list[tuple[str | None, Described]], tally: Tally
) -> None:
    """``tests``: (the photo's person, or None for a stranger; its faces to answer)."""
    for truth, faces in tests:
        distances = gallery.nearest_per_person(faces.vectors)
        names = [name for name in rule.name_faces(distances, crowd_faces(faces.sizes)) if name]
        tally.twice += any(count > 1 for count in Counter(names).values())
        if truth is None:
            tally.stranger_photos += 1
            tally.stranger_named += bool(names)
            continue
        tally.known_photos += 1
        if truth in names and all(name == truth for name in names):
            tally.known_right += 1
        elif names:
            tally.known_wrong += 1
        else:
            tally.known_unknown += 1


def gallery_of(vectors: list[np.ndarray], labels: list[str]) -> Gallery:
    """The training faces, to measure distances with (each rule is fitted on them separately)."""
    stacked = np.stack(vectors).astype(np.float32)
    return Gallery(stacked, labels, MAX_DISTANCE_THRESHOLD, OpenSetRule(MAX_DISTANCE_THRESHOLD, 0.0))


def measure_shared(detector: str) -> dict[str, Tally]:
    photos = list_photos(raw_folder())
    described = describe_all(photos, OUT / "open-set-shared.pkl", detector)
    kept = kept_faces(photos, described)
    people = sorted({p.person for p in photos})
    tallies: dict[str, Tally] = {}
    for split in splits(photos, SPLITS):
        train = [p for p in photos if p.key not in split and p.key in kept]
        for stranger in [*people, None]:  # None: every person known, for the known figures
            known = [p for p in train if p.person != stranger]
            gallery = gallery_of([kept[p.key] for p in known], [p.person for p in known])
            fitted = rules(gallery.vectors, gallery.labels, [p.key for p in known])
            # Known people's test photos, or every photo of the person left out (a stranger).
            chosen = [p for p in photos if (p.key in split if stranger is None else p.person == stranger)]
            tests = [
                (p.person if stranger is None else None, described[p.key]) for p in chosen if described[p.key]
            ]
            for name, rule in fitted.items():
                judge(rule, gallery, tests, tallies.setdefault(name, Tally()))
    return tallies


def measure_lfw(folder: Path, detector: str) -> dict[str, Tally]:
    people = list_photos(folder / "people")
    strangers = list_photos(folder / "strangers")
    described = describe_all(people + strangers, OUT / "open-set-lfw.pkl", detector)

    def central(photo: RawPhoto) -> Described:
        one = described[photo.key]
        return Described(one.vectors[[one.central]], 0, one.sizes[one.central : one.central + 1])

    (split,) = splits(people, 1, seed=1)
    train = [p for p in people if p.key not in split and described[p.key] is not None]
    gallery = gallery_of([central(p).vectors[0] for p in train], [p.person for p in train])
    log(f"lfw-half: {len(train)} training faces of {len({p.person for p in train})} people")
    tests = [(p.person, central(p)) for p in people if p.key in split and described[p.key]]
    tests += [(None, central(p)) for p in strangers if described[p.key]]
    photos_of = Counter(p.person for p in train)
    few = [(truth, faces) for truth, faces in tests if truth is not None and photos_of[truth] <= FEW_PHOTOS]
    tallies: dict[str, Tally] = {}
    for name, rule in rules(gallery.vectors, gallery.labels, [p.key for p in train]).items():
        judge(rule, gallery, tests, tallies.setdefault(name, Tally()))
        judge(
            rule,
            gallery,
            few,
            tallies.setdefault(f"{name}, people with <= {FEW_PHOTOS} training photos", Tally()),
        )
        log(f"{name}: distance {rule.max_distance:.3f}, margin {rule.min_margin:.3f}")
    return tallies


def report(title: str, tallies: dict[str, Tally]) -> None:
    columns = [
        "rule",
        "strangers answered unknown",
        "known people named right",
        "named wrong",
        "answered unknown",
        "photos naming one person twice",
    ]
    print(f"\n{title}\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + " --- |" * len(columns))
    for name, t in tallies.items():
        known = max(1, t.known_photos)
        print(
            f"| {name} | {1 - t.stranger_named / max(1, t.stranger_photos):.3f} ({t.stranger_photos} photos) "
            f"| {t.known_right / known:.3f} ({t.known_photos} photos) "
            f"| {t.known_wrong / known:.3f} | {t.known_unknown / known:.3f} | {t.twice} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.open_set", description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=["shared", "lfw", "both"], default="both")
    parser.add_argument("--detector", choices=list(DETECTORS), default=DEFAULT_DETECTOR)
    args = parser.parse_args(argv)
    if args.set in ("shared", "both"):
        title = f"Shared photos, leave one person out, {SPLITS} splits (photos with a face found):"
        report(f"{title} ({args.detector})", measure_shared(args.detector))
    if args.set in ("lfw", "both"):
        folder = lfw_folder()
        if folder is None:
            print("lfw-half is not there (set CELEB_LFW_HALF to its folder): skipped")
        else:
            title = "lfw-half: 75 people (a quarter of each held out), 240 photos of 120 strangers:"
            report(f"{title} ({args.detector})", measure_lfw(folder, args.detector))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
