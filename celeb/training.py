"""Training workflows: a model trained from the dataset store, or from a training set, by one recipe.

A :class:`Recipe` says how: the candidates compared (all by default), the
parameters fixed instead of searched, the share of photos held out, the
cross-validation folds. Its variants, one each for every caller (the CLI, the
Train and Strangers pages, the benchmarks):

- :data:`FULL_SEARCH` (``Recipe()``), or with the candidates, test share and
  folds chosen: the grid search (the Train page's **Train**, ``python -m celeb train``);
- :meth:`Recipe.quick`: a model's winner alone, with its parameters (the Train
  page's **Quick retrain**);
- :data:`SHORT_SEARCH`: the two linear candidates, two folds: seconds, as the
  Strangers page retrains after a group is named.

:func:`train_from_store` computes the kept crops' features (cached per crop)
and calls :func:`train_bundle`: the search (``model_search.train_best_model``) and the
model bundle, stamped with the store's fingerprint. Where the bundle goes
(``ModelRegistry.activate``, ``save_bundle``, a download) is the caller's
choice; so is finding faces first (``DatasetStore.find_faces``).

Engines compared on the same photos: :func:`compare_engines` (the Train page's
and ``train --compare``'s), with :func:`common_test_photos` picking the photos
every engine holds out and :func:`held_out_pairs` what each is scored on
(``model_search.score_photos``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from .dataset import DatasetStore
from .engines import Engine
from .faces import TrainingSet
from .model import ModelBundle, bundle_from_training
from .model_search import (
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
class Recipe:
    """How a model is trained.

    - ``models``: the candidates compared (``model_search.CANDIDATES``' names); empty: all of them, or,
      with ``params``, the candidates fixed there.
    - ``params``: candidates' parameters fixed instead of searched (``{"svm_rbf": {"model__C": 10,
      ...}}``).
    - ``test_size``: the share of photos held out to score the winner; ``folds``: cross-validation
      folds (fewer when a person has fewer photos).

    >>> Recipe(("svm_linear",), folds=3).candidates
    ['svm_linear']
    >>> Recipe(params={"svm_rbf": {"model__C": 10}}).candidates, Recipe().candidates
    (['svm_rbf'], None)
    """

    models: Sequence[str] = ()
    params: Mapping[str, dict] = field(default_factory=dict)
    test_size: float = 0.25
    folds: int = 5

    @classmethod
    def quick(cls, bundle: ModelBundle, test_size: float = 0.25, folds: int = 5) -> Recipe:
        """A quick retrain: ``bundle``'s winner alone, with its parameters (seconds instead of a grid
        search, right after rejecting or adding a few crops). A model without recorded candidates gives
        the whole search."""
        params = bundle.winner_params
        return cls(tuple(params), params, test_size, folds)

    @property
    def candidates(self) -> list[str] | None:
        """The candidates to train (None: all of them)."""
        return list(self.models or self.params) or None


#: Every candidate's grid searched, a quarter of the photos held out, five folds: the default.
FULL_SEARCH = Recipe()
#: The Strangers page's retrain: the two linear candidates and two folds, seconds after a group is named.
SHORT_SEARCH = Recipe(("svm_linear", "logistic_regression"), folds=2)


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
    recipe: Recipe = FULL_SEARCH,
    test_photos: set[str] | None = None,
    progress: ProgressCallback | None = None,
    on_features: Callable[[TrainingSet, list[str]], None] | None = None,
    on_unreadable: Callable[[str], None] | None = None,
) -> StoreTraining:
    """Train a model by ``recipe`` on the kept crops of ``engine`` (the store's default engine when
    None).

    - ``test_photos``: the photos held out (those of every engine compared), instead of a
      stratified split.
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
    result, bundle = train_bundle(
        data,
        engine,
        recipe=recipe,
        fingerprint=store.fingerprint(engine.name),
        test_photos=test_photos,
        progress=progress,
    )
    result.timings[:0] = features
    return StoreTraining(result, bundle, data, crop_ids)


def train_bundle(
    data: TrainingSet,
    engine: Engine,
    *,
    recipe: Recipe = FULL_SEARCH,
    fingerprint: str = "",
    test_photos: set[str] | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[TrainingResult, ModelBundle]:
    """Train a model by ``recipe`` on ``data`` (``engine``'s features) and make its bundle: what
    :func:`train_from_store` does once the features are computed, and what a benchmark does on its own
    training sets. ``fingerprint``: the dataset's, stamped on the bundle."""
    result = train_best_model(
        data,
        models=recipe.candidates,
        test_size=recipe.test_size,
        folds=recipe.folds,
        progress=progress,
        params=dict(recipe.params) or None,
        grids=engine.grids,
        test_photos=test_photos,
    )
    # An open-set engine's bundle fits its naming rule on the training faces: often the longer part.
    with timed("naming rule" if engine.open_set else "model bundle", result.timings):
        bundle = bundle_from_training(result, engine, data, fingerprint)
    return result, bundle


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
    recipe: Recipe = FULL_SEARCH,
    run: Callable[[Engine, set[str]], Run | None] | None = None,
) -> Comparison[Run] | None:
    """Train each engine by ``recipe`` on the same held-out photos and score them alike: the one
    comparison the Train page and ``train --compare`` make.

    ``run(engine, held_out_photos)`` trains one engine (by default :func:`train_from_store` by
    ``recipe``); a caller's own shows progress or says why it could not train. It returns what has
    a ``result`` (a :class:`StoreTraining`, or the page's own record), or None when it could not
    train (it has said why): the comparison is then None. An engine without kept crops (its Find
    faces not run yet) is left out, with why, and the others are trained.
    """
    if run is None:

        def run(engine: Engine, held_out: set[str]) -> StoreTraining:
            return train_from_store(store, engine, recipe=recipe, test_photos=held_out)

    usable = [engine for engine in engines if store.kept_photos(engine.name)]
    skipped = [
        (engine, f"no kept crops yet: find faces with the {engine.label} engine first")
        for engine in engines
        if engine not in usable
    ]
    if not usable:
        return Comparison([], {}, skipped)
    held_out = common_test_photos(store, usable, recipe.test_size)
    runs = []
    for engine in usable:
        outcome = run(engine, held_out)
        if outcome is None:
            return None
        runs.append((engine, outcome))
    pairs = held_out_pairs(store, usable, held_out)
    scores = {engine.name: score_photos(pairs, outcome.result.test_faces) for engine, outcome in runs}
    return Comparison(runs, scores, skipped)
