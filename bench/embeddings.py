"""Engines and face detectors side by side, on the same shared photos in the same run.

    python -m bench.embeddings [--splits 10] [--variants classic hog+mtcnn blazeface+mtcnn] [--json FILE]

Needs the shared photo set (``CELEB_SHARED_PHOTOS``). Variants: ``classic``
(the recipe's engine) and the embeddings engine with each face detector of
``celeb/engines/detectors.py`` (``hog``, ``mtcnn``, ``hog+mtcnn``,
``blazeface``, ``blazeface+mtcnn``; ``hog+mtcnn`` is the default), each describing a face with
its mirror image as today's engine does, and ``hog+mtcnn-one-view``, the engine before that
(one view of each face, as models stored before it still describe them). Every photo of ``raw/`` is
decoded and searched once per variant; then, for each, with
automatic cleaning only (the face each photo keeps is the one the dataset
keeps: the largest clean face for the classic engine; for the embeddings
engine, the face most like the person's other photos):

1. accuracy: the kept face of each test photo named right, mean of
   ``--splits`` stratified 75/25 photo splits (the same splits for both);
2. coverage: photos in which the engine finds a face;
3. open set, leave one person out (the training photos of four people in
   splits 0-2, figures averaged; the fifth person's photos as strangers): strangers answered "unknown" (the
   embeddings engine: farther than the calibrated distance; the classic one:
   "not sure", under the probability threshold), and the four known people's
   test photos still named right;
4. a 12-megapixel JPEG classified end to end, warm, median of 10, and the
   original recipe (``bench/recipe.py``, full-resolution haar) on the same photo;
5. retraining on cached features: the winner with fixed parameters, and the
   whole grid search.

Models: each engine's grid search on split 0's training photos picks a
winner and its parameters, which then serve every split (as bench/run.py does).
Targets are issue "Right by default"'s, for the default engine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedShuffleSplit

from bench import recipe
from bench.common import (
    RawPhoto,
    list_photos,
    log,
    photo_training_set,
    raw_folder,
    twelve_megapixels,
)
from celeb.classify import Classifier, describe_faces
from celeb.config import DECODE_MAX_SIDE, DEFAULT_CONFIDENCE_THRESHOLD
from celeb.cropping import faces_most_like
from celeb.engines import Engine, EngineUnavailable, get_engine
from celeb.errors import ImageError
from celeb.faces import TrainingSet
from celeb.images import read_image
from celeb.model import ModelBundle, make_gallery
from celeb.model_search import fit_candidate, predict_labels, train_best_model

#: Variant name -> (engine, its settings). Each face is described with its mirror image (today's
#: engine) except in "hog+mtcnn-one-view", the engine before that.
VARIANTS = {
    "classic": ("classic", {}),
    **{
        detector: ("embeddings", {"detector": detector, "mirrored_mean": True})
        for detector in ("hog", "mtcnn", "hog+mtcnn", "blazeface", "blazeface+mtcnn")
    },
    "hog+mtcnn-one-view": ("embeddings", {"detector": "hog+mtcnn", "mirrored_mean": False}),
}
DEFAULT_VARIANTS = ("classic", "hog+mtcnn", "hog+mtcnn-one-view", "blazeface+mtcnn")
TARGETS = {"accuracy": 0.97, "coverage": 0.97, "stranger_unknown": 0.90, "known_right": 0.97, "ms_12mp": 200}


@dataclass(frozen=True)
class Searched:
    """One photo as one engine saw it."""

    any_face: bool
    vectors: np.ndarray | None  # the kept clean face (and its mirror image, for the classic engine)


# ---------------------------------------------------------------- searching every photo once


def search(engine: Engine, photo: RawPhoto) -> Searched:
    try:
        image = read_image(photo.path, max_side=DECODE_MAX_SIDE)
    except (ImageError, OSError):
        return Searched(False, None)
    faces = engine.detect(image.rgb)
    # Identity engines need every clean face, to keep the one most like the person (as the store does).
    clean = [face for face in faces if face.eyes_found][: None if engine.open_set else 1]
    if not clean:
        return Searched(bool(faces), None)
    described = describe_faces(engine, image.rgb, clean, mirrored=True)  # as Find faces describes them
    return Searched(True, np.stack([one.views for one in described]))  # (faces, views, length)


def search_all(engine: Engine, photos: list[RawPhoto]) -> tuple[dict[str, Searched], float]:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        found = dict(zip((p.key for p in photos), pool.map(lambda p: search(engine, p), photos), strict=True))
    return keep_one_face(photos, found), time.perf_counter() - started


def keep_one_face(photos: list[RawPhoto], found: dict[str, Searched]) -> dict[str, Searched]:
    """Automatic cleaning as DatasetStore does it: per photo, the face most like its person's other photos
    (celeb.cropping.faces_most_like; the largest face when only that one was kept)."""
    kept = {}
    for person in sorted({p.person for p in photos}):
        keys = [p.key for p in photos if p.person == person and found[p.key].vectors is not None]
        choices = faces_most_like([found[key].vectors[:, 0, :] for key in keys])
        for key, choice in zip(keys, choices, strict=True):
            kept[key] = Searched(True, found[key].vectors[choice])
    return {key: kept.get(key, value) for key, value in found.items()}


def training_set(photos: list[RawPhoto], searched: dict[str, Searched], index) -> TrainingSet:
    return photo_training_set(photos, {key: entry.vectors for key, entry in searched.items()}, index)


# ---------------------------------------------------------------- figures


def accuracy_per_split(
    photos: list[RawPhoto], searched: dict[str, Searched], splits: list, winner: str, params: dict
) -> tuple[list[float], list[float]]:
    accuracies, coverages = [], []
    for train_index, test_index in splits:
        model = fit_candidate(winner, params, training_set(photos, searched, train_index))
        scored = [i for i in test_index if searched[photos[i].key].vectors is not None]
        features = np.stack([searched[photos[i].key].vectors[0] for i in scored])
        truth = np.asarray([photos[i].person for i in scored], dtype=object)
        accuracies.append(float(np.mean(predict_labels(model, features) == truth)))
        coverages.append(sum(searched[photos[i].key].any_face for i in test_index) / len(test_index))
    return accuracies, coverages


def open_set(
    engine: Engine, photos: list[RawPhoto], searched: dict[str, Searched], split: tuple, winner: str, params
) -> dict[str, dict[str, float]]:
    """Per stranger: share of their photos answered unknown, share of known test photos named right."""
    train_index, test_index = split
    figures = {}
    for stranger in sorted({p.person for p in photos}):
        train = [i for i in train_index if photos[i].person != stranger]
        data = training_set(photos, searched, train)
        model = fit_candidate(winner, params, data)
        gallery = make_gallery(data) if engine.open_set else None

        def answers(indices: list[int], model=model, gallery=gallery) -> list[str | None]:
            found = [i for i in indices if searched[photos[i].key].vectors is not None]
            if not found:
                return []
            features = np.stack([searched[photos[i].key].vectors[0] for i in found])
            if gallery is not None:  # the model's own rule, as classifying uses it (one face a photo)
                return [gallery.rule.name_one(row) for row in gallery.nearest_per_person(features)]
            probabilities = model.predict_proba(features)
            names = np.asarray(model.classes_)[probabilities.argmax(axis=1)]
            known = probabilities.max(axis=1) >= DEFAULT_CONFIDENCE_THRESHOLD
            return [str(name) if ok else None for name, ok in zip(names, known, strict=True)]

        strangers = answers([i for i in range(len(photos)) if photos[i].person == stranger])
        known_test = [i for i in test_index if photos[i].person != stranger]
        named = answers(known_test)
        truth = [photos[i].person for i in known_test if searched[photos[i].key].vectors is not None]
        figures[stranger] = {
            "stranger_unknown": sum(a is None for a in strangers) / max(len(strangers), 1),
            "known_right": sum(a == t for a, t in zip(named, truth, strict=True)) / max(len(truth), 1),
        }
    return figures


def time_12mp(engine: Engine, photos, searched, splits, winner, params, big: Path) -> list[float]:
    data = training_set(photos, searched, splits[0][0])
    model = fit_candidate(winner, params, data)
    bundle = ModelBundle(
        estimator=model,
        classes=[str(c) for c in model.classes_],
        engine=engine.name,
        engine_settings=engine.settings(),
        gallery=make_gallery(data) if engine.open_set else None,
    )
    classifier = Classifier(bundle)
    return time_ms(lambda: classifier.classify(big))


def time_ms(run) -> list[float]:
    """Ten timed runs after a warm one (models loaded, caches filled), in ms."""
    run()
    runs = []
    for _ in range(10):
        started = time.perf_counter()
        run()
        runs.append((time.perf_counter() - started) * 1000)
    return runs


def time_recipe_12mp(photos: list[RawPhoto], train_index, big: Path) -> list[float]:
    """The original recipe end to end on the 12 MP photo, its model fitted on its own crops."""
    cook = recipe.Recipe()
    rows, labels = [], []
    for i in train_index:
        for crop in cook.crops_of_file(photos[i].path):
            rows.append(recipe.features(crop))
            labels.append(photos[i].person)
    model = recipe.make_model().fit(np.stack(rows), labels)
    return time_ms(lambda: cook.classify_file(model, big))


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(DEFAULT_VARIANTS))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    try:
        engines = {name: get_engine(*VARIANTS[name]) for name in args.variants}
    except EngineUnavailable as exc:
        sys.exit(f"bench: {exc}")
    photos = list_photos(raw_folder())
    labels = np.asarray([p.person for p in photos])
    splitter = StratifiedShuffleSplit(n_splits=args.splits, test_size=0.25, random_state=0)
    splits = list(splitter.split(np.zeros(len(photos)), labels))
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="celeb-bench-") as scratch:
        big = twelve_megapixels(Path(scratch))
        log("the original recipe: its crops of split 0's training photos, then a 12 MP photo")
        recipe_ms = time_recipe_12mp(photos, splits[0][0], big)
        for name, engine in engines.items():
            log(f"{name}: searching {len(photos)} photos")
            searched, search_seconds = search_all(engine, photos)
            first = training_set(photos, searched, splits[0][0])
            started = time.perf_counter()
            grid = train_best_model(first, grids=engine.grids, refit_on_all=False)
            grid_seconds = time.perf_counter() - started
            winner, params = grid.winner, next(c.params for c in grid.candidates if c.name == grid.winner)
            log(f"{name}: winner {winner} {params}; {args.splits} splits")
            accuracies, coverages = accuracy_per_split(photos, searched, splits, winner, params)
            rounds = [open_set(engine, photos, searched, split, winner, params) for split in splits[:3]]
            strangers = {
                person: {key: statistics.mean(r[person][key] for r in rounds) for key in rounds[0][person]}
                for person in rounds[0]
            }
            everything = training_set(photos, searched, range(len(photos)))
            started = time.perf_counter()
            fit_candidate(winner, params, everything)
            retrain_seconds = time.perf_counter() - started
            log(f"{name}: timing a 12 MP photo")
            runs = time_12mp(engine, photos, searched, splits, winner, params, big)
            figures[name] = {
                "winner": winner,
                "params": params,
                "accuracy": accuracies,
                "coverage": coverages,
                "open_set": strangers,
                "ms_12mp": runs,
                "search_seconds": search_seconds,
                "retrain_fixed_seconds": retrain_seconds,
                "grid_search_seconds": grid_seconds,
                "faces": int((~everything.is_copy).sum()),
            }
    report(figures, len(photos), args.splits, recipe_ms)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**figures, "recipe_ms_12mp": recipe_ms}, indent=1, default=float))
    return 0


def report(figures: dict, photos: int, splits: int, recipe_ms: list[float]) -> None:
    names = list(figures)

    def mean_sd(values: list[float]) -> str:
        return f"{statistics.mean(values):.3f} ± {statistics.pstdev(values):.3f}"

    def open_mean(name: str, key: str) -> float:
        return statistics.mean(person[key] for person in figures[name]["open_set"].values())

    def row(label: str, cells: list[str], target: str = "") -> None:
        print(f"{label:58} " + " ".join(f"{cell:>15}" for cell in cells) + f"  {target}")

    print(f"\n{photos} photos; every variant on the same splits; targets for the default (hog+mtcnn)\n")
    row("figure", names, "target")
    for label, key, target in (
        (f"accuracy, automatic cleaning, mean of {splits} splits", "accuracy", ">= 0.97"),
        ("coverage: photos with a face found", "coverage", ">= 0.97"),
    ):
        row(label, [mean_sd(figures[name][key]) for name in names], target)
    # Accuracy is over the photos with a face found, so per split their product is the share of all
    # test photos whose person is named right: what a user sees.
    named = [
        mean_sd([a * c for a, c in zip(figures[name]["accuracy"], figures[name]["coverage"], strict=True)])
        for name in names
    ]
    row("named right, of all test photos (accuracy x coverage)", named)
    for label, key, target in (
        ("open set: a stranger's photos answered unknown (mean of 5)", "stranger_unknown", ">= 0.90"),
        ("open set: known people's test photos named right", "known_right", ">= 0.97"),
    ):
        row(label, [f"{open_mean(name, key):.3f}" for name in names], target)
    recipe = statistics.median(recipe_ms)
    medians = [statistics.median(figures[name]["ms_12mp"]) for name in names]
    row("12 MP JPEG classified, warm, median of 10 (ms)", [f"{m:.0f}" for m in medians], "<= 200")
    row("  the original recipe on the same photo (ms)", [f"{recipe:.0f}"] * len(names))
    row("  speed-up over the recipe", [f"{recipe / m:.1f}x" for m in medians], ">= 5x")
    for label, key in (
        ("searching every photo once, 2 threads (s)", "search_seconds"),
        ("retrain on cached features, winner's parameters (s)", "retrain_fixed_seconds"),
        ("grid search on split 0 (s)", "grid_search_seconds"),
    ):
        row(label, [f"{figures[name][key]:.2f}" for name in names])
    print()
    for name in names:
        entry = figures[name]
        print(f"{name}: winner {entry['winner']} {entry['params']}; {entry['faces']} training faces in all")
        for person, values in entry["open_set"].items():
            print(
                f"  without {person}: unknown {values['stranger_unknown']:.2f}, "
                f"known named right {values['known_right']:.2f}"
            )


if __name__ == "__main__":
    raise SystemExit(main())
