"""A model trained from the dataset store: what the CLI, the Train page and the benchmarks share.

:func:`train_from_store` computes the kept crops' features (cached per crop),
runs the grid search (or a quick retrain with fixed parameters) and makes the
model bundle, stamped with the store's fingerprint. Where the bundle goes
(``ModelRegistry.activate``, ``save_bundle``, a download) is the caller's
choice; so is finding faces first (``DatasetStore.find_faces``).

Engines compared on the same photos: :func:`compare_engines` (the Train page's
and ``train --compare``'s), with :func:`common_test_photos` picking the photos
every engine holds out and :func:`held_out_pairs` what each is scored on
(``train.score_photos``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from .dataset import DatasetStore
from .engines import Engine
from .faces import TrainingSet
from .model import ModelBundle, bundle_from_training
from .train import (
    PhotoScore,
    ProgressCallback,
    StageTime,
    TrainingResult,
    held_out_groups,
    score_photos,
    timed,
    train_best_model,
)

#: What a comparison's runs are: a StoreTraining, or a page's own record of one.
Run = TypeVar("Run")


@dataclass(frozen=True)
class StoreTraining:
    """One training run on a store: the result to judge, the bundle to save, what it was trained on."""

    result: TrainingResult
    bundle: ModelBundle
    data: TrainingSet
    crop_ids: list[str]


def train_from_store(
    store: DatasetStore,
    engine: Engine | None = None,
    *,
    models: list[str] | None = None,
    test_size: float = 0.25,
    folds: int = 5,
    params: dict[str, dict] | None = None,
    test_photos: set[str] | None = None,
    progress: ProgressCallback | None = None,
    on_features: Callable[[TrainingSet, list[str]], None] | None = None,
    on_unreadable: Callable[[str], None] | None = None,
) -> StoreTraining:
    """Train a model on the kept crops of ``engine`` (the store's default engine when None).

    - ``models``: the candidates to compare (all by default); ``params`` fixes
      a candidate's parameters instead of searching its grid (a quick retrain:
      ``params={"svm_rbf": {...}}``; ``models`` then defaults to its keys).
    - ``test_size``, ``folds``, ``test_photos``: as :func:`train.train_best_model`
      (``test_photos``: the photos held out for every engine compared).
    - ``progress(step, done, total)``: as each candidate finishes.
    - ``on_features(data, crop_ids)``: once the features are ready, before the search.
    - ``on_unreadable(why)``: a kept crop that cannot be read is left out and
      reported; without it, DatasetError.

    The result's ``timings``: computing the features (those of crops seen before come from a cache),
    train_best_model's stages, then making the bundle (an open-set engine's naming rule).

    Raises TrainingError when the data cannot support training.
    """
    engine = engine or store.engine()
    features: list[StageTime] = []
    with timed("features", features):
        data, crop_ids = store.training_set(engine, on_unreadable=on_unreadable)
    if on_features:
        on_features(data, crop_ids)
    result = train_best_model(
        data,
        models=models or (list(params) if params else None),
        test_size=test_size,
        folds=folds,
        progress=progress,
        params=params,
        grids=engine.grids,
        test_photos=test_photos,
    )
    result.timings[:0] = features
    # An open-set engine's bundle fits its naming rule on the training faces: often the longer part.
    with timed("naming rule" if engine.open_set else "model bundle", result.timings):
        bundle = bundle_from_training(result, engine, data, store.fingerprint(engine.name))
    return StoreTraining(result, bundle, data, crop_ids)


def common_test_photos(store: DatasetStore, engines: Iterable[Engine], test_size: float = 0.25) -> set[str]:
    """Photos to hold out for every engine alike: a stratified split of the photos any of them uses.

    Only people and photos are needed, so no feature is computed here (training computes them).
    """
    # Each (person, photo) once, however many engines (or faces) it has: the split then depends on
    # the photos only, and rejecting one engine's face keeps the held-out photos while another has it.
    faces = sorted({face for engine in engines for face in store.kept_photos(engine.name)})
    people = np.asarray([person for person, _ in faces], dtype=object)
    photos = np.asarray([photo for _, photo in faces])
    return held_out_groups(people, photos, test_size)


def held_out_pairs(store: DatasetStore, engines: Iterable[Engine], photos: set[str]) -> set[tuple[str, str]]:
    """(person, photo) of every held-out photo any engine kept a face on: what each engine is scored on.

    A photo only one engine found a face on is still held out for the others: their miss.
    """
    return {
        (person, photo)
        for engine in engines
        for person, photo in store.kept_photos(engine.name)
        if photo in photos
    }


@dataclass
class Comparison(Generic[Run]):
    """Engines trained on the same held-out photos: each run with its score over all of them (a photo
    where an engine kept no face of its person is that engine's miss), and the engines left out."""

    runs: list[tuple[Engine, Run]]
    scores: dict[str, PhotoScore]
    skipped: list[tuple[Engine, str]]


def compare_engines(
    store: DatasetStore,
    engines: Sequence[Engine],
    run: Callable[[Engine, set[str]], Run | None],
    test_size: float = 0.25,
) -> Comparison[Run] | None:
    """Train each engine with ``run(engine, held_out_photos)`` on the same held-out photos and score
    them alike: the one comparison the Train page and ``train --compare`` make.

    An engine without kept crops (its Find faces not run yet) is left out, with why, and the others
    are trained. ``run`` returns what has a ``result`` (a :class:`StoreTraining`, or the page's own),
    or None when it could not train (it has said why): the comparison is then None.
    """
    usable = [engine for engine in engines if store.kept_photos(engine.name)]
    skipped = [
        (engine, f"no kept crops yet: find faces with the {engine.label} engine first")
        for engine in engines
        if engine not in usable
    ]
    if not usable:
        return Comparison([], {}, skipped)
    held_out = common_test_photos(store, usable, test_size)
    runs = []
    for engine in usable:
        outcome = run(engine, held_out)
        if outcome is None:
            return None
        runs.append((engine, outcome))
    pairs = held_out_pairs(store, usable, held_out)
    scores = {engine.name: score_photos(pairs, outcome.result.test_faces) for engine, outcome in runs}
    return Comparison(runs, scores, skipped)
