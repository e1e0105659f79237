"""Tests for celeb.training: a model trained from the store, as the CLI, the Train page and bench/ do."""

from __future__ import annotations

from dataclasses import replace

import pytest

from celeb.dataset import DatasetStore
from celeb.errors import TrainingError
from celeb.manifest import REJECTED
from celeb.model import ModelBundle
from celeb.model_search import held_out_photos
from celeb.training import (
    FULL_SEARCH,
    SHORT_SEARCH,
    Recipe,
    common_test_photos,
    compare_engines,
    held_out_pairs,
    train_from_store,
)

#: Enough for the 8 kept crops of ``cropped``.
QUICK = Recipe(test_size=0.5, folds=2)


def test_a_store_trains_into_a_bundle_stamped_with_its_fingerprint(cropped: DatasetStore):
    engine = cropped.engine("classic")
    events = []
    trained = train_from_store(
        cropped,
        engine,
        recipe=replace(QUICK, models=("logistic_regression", "svm_linear")),
        progress=lambda step, done, total: events.append(("progress", step, done, total)),
        on_features=lambda data, ids: events.append(("features", len(data.labels), len(ids))),
    )
    # The features come first (the Train page shows their count), then one step per candidate.
    assert events == [
        ("features", 16, 8),  # 8 kept crops and their mirror images
        ("progress", "Searching Logistic regression", 0, 2),
        ("progress", "Searching SVM (linear)", 1, 2),
        ("progress", "Scoring the winner on the test split", 2, 2),
    ]
    result, bundle = trained.result, trained.bundle
    assert bundle.classes == result.classes == ["Ada", "Bo"]
    assert bundle.engine == "classic"
    assert bundle.dataset_fingerprint == cropped.fingerprint("classic")
    assert bundle.metrics["winner"] == result.winner in {"logistic_regression", "svm_linear"}
    assert bundle.training_photos == {photo for _, photo in cropped.kept_photos("classic")}
    assert sorted(trained.crop_ids) == sorted(
        c.record.id for p in ("Ada", "Bo") for c in cropped.crops(p, engine="classic")
    )
    assert result.train_size + result.test_size == 8


def test_a_quick_retrain_fits_the_fixed_parameters_only(cropped: DatasetStore):
    fixed = {"svm_linear": {"model__C": 0.001}}
    recipe = replace(QUICK, params=fixed)
    trained = train_from_store(cropped, cropped.engine("classic"), recipe=recipe)
    assert [c.name for c in trained.result.candidates] == ["svm_linear"]  # models default to the fixed ones
    assert trained.result.candidates[0].params == {"model__C": 0.001}
    assert trained.result.settings["fixed_params"] == fixed
    assert trained.bundle.winner_params == fixed
    # The Train page's quick retrain: a model's winner alone, with its parameters.
    assert Recipe.quick(trained.bundle, 0.5, 2) == Recipe(("svm_linear",), fixed, 0.5, 2)
    assert Recipe.quick(ModelBundle(estimator=None, classes=["a", "b"])).candidates is None  # no record


def test_the_recipes_say_what_is_searched():
    assert Recipe() == FULL_SEARCH and FULL_SEARCH.candidates is None  # every candidate
    assert (FULL_SEARCH.test_size, FULL_SEARCH.folds) == (0.25, 5)
    assert SHORT_SEARCH.candidates == ["svm_linear", "logistic_regression"] and SHORT_SEARCH.folds == 2


def test_rejected_crops_are_left_out(cropped: DatasetStore):
    before = cropped.fingerprint("classic")
    rejected = cropped.crops("Ada", engine="classic")[0].record.id
    cropped.set_status([rejected], REJECTED)
    assert cropped.fingerprint("classic") != before
    seen = []
    with pytest.raises(TrainingError, match=r"too few: Ada \(3\)$"):
        train_from_store(
            cropped, cropped.engine("classic"), recipe=QUICK, on_features=lambda _, ids: seen.extend(ids)
        )
    assert rejected not in seen and len(seen) == 7


def test_too_little_data_is_a_training_error(cropped: DatasetStore):
    cropped.delete_person("Bo")
    with pytest.raises(TrainingError, match="at least two people"):
        train_from_store(cropped, cropped.engine("classic"), recipe=QUICK)


def test_common_test_photos_are_the_split_of_the_kept_photos(cropped: DatasetStore):
    engine = cropped.engine("classic")
    held = common_test_photos(cropped, [engine], test_size=0.5)
    kept = cropped.kept_photos("classic")
    # The same photos as the default split of the engine's own training set (one face a photo here).
    data, _ = cropped.training_set(engine)
    assert held == held_out_photos(data.originals, 0.5)
    assert {person for person, photo in kept if photo in held} == {"Ada", "Bo"}
    assert len(held) == 4
    assert held_out_pairs(cropped, [engine], held) == {(p, photo) for p, photo in kept if photo in held}
    # Held-out photos serve as the test split: every test face is one of theirs.
    one = replace(QUICK, models=("svm_linear",))
    trained = train_from_store(cropped, engine, recipe=one, test_photos=held)
    assert {photo for _, photo, _ in trained.result.test_faces} == held


def test_engines_compared_by_one_recipe_on_the_same_photos(cropped: DatasetStore):
    classic = cropped.engine("classic")
    one = replace(QUICK, models=("svm_linear",))
    comparison = compare_engines(cropped, [classic], one)  # each engine trained by train_from_store
    ((engine, trained),) = comparison.runs
    assert engine is classic and [c.name for c in trained.result.candidates] == ["svm_linear"]
    held = common_test_photos(cropped, [classic], 0.5)  # the recipe's test share
    assert {photo for _, photo, _ in trained.result.test_faces} == held
    assert comparison.scores["classic"].photos == len(held_out_pairs(cropped, [classic], held))
    assert comparison.skipped == []
