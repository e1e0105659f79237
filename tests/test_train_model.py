"""Tests for celeb.model_search (the grid search) and celeb.model (bundles on disk).

The data are synthetic feature rows: a few well separated "people", several
"photos" each, every photo with a mirrored copy, as DatasetStore makes them.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
import sklearn
from helpers import PEOPLE, synthetic
from sklearn.calibration import CalibratedClassifierCV
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from celeb.engines import ClassicEngine
from celeb.engines.haar import DetectorSettings
from celeb.engines.wavelets import FeatureSettings
from celeb.errors import ModelError, TrainingError
from celeb.faces import TrainingSet
from celeb.model import (
    BUNDLE_FORMAT,
    ModelBundle,
    bundle_from_training,
    library_versions,
    load_bundle,
    save_bundle,
)
from celeb.model_search import (
    CANDIDATES,
    Candidate,
    CandidateResult,
    PersonRecall,
    StageTime,
    TrainingResult,
    _pipeline,
    _split_by_photo,
    pick_winner,
    predict_labels,
    train_best_model,
    with_probabilities,
)


@pytest.fixture(scope="module")
def trained() -> tuple[TrainingResult, list]:
    calls = []
    result = train_best_model(
        synthetic(),
        models=["logistic_regression", "svm_linear"],
        folds=3,
        progress=lambda step, done, total: calls.append((step, done, total)),
    )
    return result, calls


# --------------------------------------------------------------------------- TrainingSet


def test_training_set_checks_lengths():
    with pytest.raises(ValueError) as info:
        TrainingSet(np.zeros((3, 2)), np.array(["a"] * 3), np.array(["g"] * 2), np.zeros(3, bool))
    assert str(info.value) == "features, labels, groups and is_copy must have the same length"


def test_training_set_subset_and_originals():
    data = synthetic({"Ada": 2, "Bo": 1})
    assert data.features.shape == (6, 24)
    originals = data.originals
    assert originals.features.shape == (3, 24)
    assert list(originals.labels) == ["Ada", "Ada", "Bo"]
    assert list(originals.groups) == ["Ada-0", "Ada-1", "Bo-0"]
    assert not originals.is_copy.any()
    np.testing.assert_array_equal(originals.features, data.features[0::2])


def test_split_keeps_each_photo_on_one_side():
    data = synthetic()
    train, test = _split_by_photo(data, 0.25, 0)
    assert (train ^ test).all()
    assert set(data.groups[train]).isdisjoint(data.groups[test])
    for person in PEOPLE:  # stratified: everybody is on both sides
        assert (data.labels[test] == person).any() and (data.labels[train] == person).any()
    assert 0.15 <= test.sum() / len(test) <= 0.35


# --------------------------------------------------------------------------- training


def test_train_best_model_on_separable_data(trained):
    result, _ = trained
    assert result.winner in ("logistic_regression", "svm_linear")
    assert [c.name for c in result.candidates] == ["logistic_regression", "svm_linear"]
    assert [c.label for c in result.candidates] == ["Logistic regression", "SVM (linear)"]
    assert result.classes == sorted(PEOPLE)
    assert result.test_accuracy == 1.0
    assert result.confusion.shape == (3, 3)
    assert result.confusion.trace() == result.test_size
    assert result.train_size + result.test_size == 24  # every original photo, once
    assert result.test_size >= 3
    assert set(result.report) >= {*PEOPLE, "accuracy", "macro avg", "weighted avg"}
    assert result.report["accuracy"] == 1.0
    for person in PEOPLE:
        assert person in result.report_text
    assert result.settings == {
        "test_size": 0.25,
        "folds": 3,
        "random_state": 0,
        "refit_on_all": True,
        "models": ["logistic_regression", "svm_linear"],
        "fixed_params": {},
    }
    for candidate in result.candidates:
        assert 0.9 <= candidate.cv_score <= 1.0
        assert set(candidate.params) == set(CANDIDATES[candidate.name].grid)
        assert candidate.fit_seconds > 0


class SlowLogistic(LogisticRegression):
    """A logistic regression whose every fit takes 100 ms more."""

    def fit(self, *args, **kwargs):
        time.sleep(0.1)
        return super().fit(*args, **kwargs)


def test_fit_seconds_time_each_candidates_own_search(monkeypatch):
    slow = Candidate("slow", "Slow", lambda: _pipeline(SlowLogistic(max_iter=3000)), {"model__C": [0.01]})
    monkeypatch.setitem(CANDIDATES, "slow", slow)
    started = time.perf_counter()
    result = train_best_model(synthetic(), models=["slow", "svm_linear"], folds=3, refit_on_all=False)
    elapsed = time.perf_counter() - started
    seconds = {c.name: c.fit_seconds for c in result.candidates}
    assert seconds["slow"] >= 3 * 0.1  # its 3 folds (the winner is fitted after the search, not in it)
    assert 0 < seconds["svm_linear"] < seconds["slow"]
    assert sum(seconds.values()) <= elapsed


def test_trained_estimator_predicts_the_people(trained):
    result, _ = trained
    fresh = synthetic(seed=1).originals
    probabilities = result.estimator.predict_proba(fresh.features)
    assert probabilities.shape == (24, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    assert list(result.estimator.classes_) == result.classes
    assert (predict_labels(result.estimator, fresh.features) == fresh.labels).all()


def test_progress_is_reported_per_candidate(trained):
    _, calls = trained
    assert calls == [
        ("Searching Logistic regression", 0, 2),
        ("Searching SVM (linear)", 1, 2),
        ("Scoring the winner on the test split", 2, 2),
    ]


def test_result_table(trained):
    result, _ = trained
    table = result.table()
    assert len(table) == 2
    assert set(table[0]) == {"model", "CV balanced accuracy", "± SE", "parameters", "fit seconds", "winner"}
    assert [row["winner"] for row in table].count(True) == 1
    assert table[0]["CV balanced accuracy"] >= table[1]["CV balanced accuracy"]
    assert all(row["parameters"].startswith("C=") for row in table)


def test_without_refit_on_all():
    result = train_best_model(synthetic(), models=["logistic_regression"], folds=2, refit_on_all=False)
    assert result.winner == "logistic_regression"
    assert result.settings["refit_on_all"] is False
    assert result.test_accuracy == 1.0


def test_one_person_is_not_enough():
    with pytest.raises(TrainingError) as info:
        train_best_model(synthetic({"Ada": 10}), models=["logistic_regression"])
    assert str(info.value) == "training needs at least two people with faces"


def test_too_few_photos_names_the_person():
    # Mirrored copies and a second face of one photo do not count as photos.
    data = synthetic({"Ada": 8, "Bo": 3, "Zoë": 4})
    with pytest.raises(TrainingError) as info:
        train_best_model(data, models=["logistic_regression"])
    assert str(info.value) == (
        "every person needs faces from at least 5 photos to train and test; too few: Bo (3), Zoë (4)"
    )
    assert isinstance(info.value, ValueError)


def test_faces_of_one_photo_count_once():
    data = synthetic({"Ada": 8, "Bo": 8})
    groups = data.groups.copy()
    groups[data.labels == "Bo"] = "one photo"
    with pytest.raises(TrainingError, match=r"too few: Bo \(1\)$"):
        train_best_model(TrainingSet(data.features, data.labels, groups, data.is_copy), models=["svm_linear"])


def test_fewer_photos_are_needed_with_a_larger_test_share():
    data = synthetic({"Ada": 4, "Bo": 4})
    with pytest.raises(TrainingError, match="at least 5 photos"):
        train_best_model(data, models=["logistic_regression"], test_size=0.25, folds=2)
    result = train_best_model(data, models=["logistic_regression"], test_size=0.5, folds=2)
    assert result.classes == ["Ada", "Bo"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"models": ["bogus", "svm_linear"]},
            "unknown model(s) ['bogus']; choose from " + str(sorted(CANDIDATES)),
        ),
        ({"test_size": 0.6}, "the test share must be between 0.05 and 0.5"),
        ({"test_size": 0.01}, "the test share must be between 0.05 and 0.5"),
        ({"folds": 1}, "cross-validation needs at least 2 folds"),
    ],
)
def test_bad_options_are_training_errors(options, message):
    with pytest.raises(TrainingError) as info:
        train_best_model(synthetic(), **options)
    assert str(info.value) == message


def test_candidate_names():
    assert sorted(CANDIDATES) == ["logistic_regression", "random_forest", "svm_linear", "svm_rbf"]


# --------------------------------------------------------------------------- many people (issue 20)


def many_people(people: int = 40, few: int = 10, seed: int = 0) -> TrainingSet:
    """``people`` Gaussian clusters in 32 dimensions: the first ``few`` with 6 photos, the others 40."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, (people, 32))
    rows, labels, groups = [], [], []
    for index, centre in enumerate(centres):
        for photo in range(6 if index < few else 40):
            rows.append(centre + rng.normal(0, 0.3, 32))
            labels.append(f"P{index:02d}")
            groups.append(f"P{index:02d}-{photo}")
    return TrainingSet(
        np.asarray(rows, np.float32),
        np.asarray(labels, dtype=object),
        np.asarray(groups),
        np.zeros(len(rows), bool),
    )


def test_many_people_a_person_with_few_photos_is_never_dropped():
    """At 40 people the RBF SVM tied the simpler models in cross-validation and won, being listed
    first; its calibrated probabilities named nobody as some people with six photos."""
    data = many_people()
    result = train_best_model(data, models=["svm_rbf", "logistic_regression"], folds=5)
    scores = {c.name: c.cv_score for c in result.candidates}
    assert abs(scores["svm_rbf"] - scores["logistic_regression"]) < 0.005  # a tie in cross-validation
    assert result.winner == "logistic_regression"
    named = {answer for _, _, answer in result.test_faces}
    assert named == set(result.classes)  # every person, the six-photo ones too, is named
    assert all(result.report[person]["recall"] == 1.0 for person in result.classes)
    assert result.low_recall == [] and result.warnings == []


def test_the_rbf_svm_alone_drops_people_with_few_photos():
    """What the tie rule avoids: the model the old rule picked in the test above."""
    result = train_best_model(many_people(), models=["svm_rbf"], folds=5)
    dropped = [p for p in result.classes if result.report[p]["recall"] == 0.0]
    assert dropped and all(p < "P10" for p in dropped)  # people with six photos


def test_a_tie_goes_to_the_simpler_model():
    def scored(name, score, se=0.0):
        return CandidateResult(name, name, score, {}, 1.0, cv_se=se)

    forest, rbf = scored("random_forest", 0.999), scored("svm_rbf", 0.998)
    linear, logistic = scored("svm_linear", 0.997), scored("logistic_regression", 0.996)
    assert pick_winner([forest, rbf, linear, logistic]) == "logistic_regression"  # within 0.005
    assert pick_winner([forest, rbf, linear]) == "svm_linear"
    # Within the best one's standard error, when it is wider than the margin.
    wide = scored("svm_rbf", 0.95, se=0.03)
    assert pick_winner([wide, scored("logistic_regression", 0.93)]) == "logistic_regression"
    assert pick_winner([wide, scored("logistic_regression", 0.91)]) == "svm_rbf"
    # Clearly better is better, simple or not.
    assert pick_winner([scored("logistic_regression", 0.90), scored("svm_rbf", 0.95)]) == "svm_rbf"


def test_candidates_are_listed_simplest_first():
    assert list(CANDIDATES) == ["logistic_regression", "svm_linear", "svm_rbf", "random_forest"]


def test_cv_scores_weigh_every_person_alike(monkeypatch):
    # A model that names everybody Ada is right on two thirds of the faces, and on one person of three.
    majority = Candidate("majority", "Majority", lambda: DummyClassifier(strategy="most_frequent"), {})
    monkeypatch.setitem(CANDIDATES, "majority", majority)
    result = train_best_model(synthetic({"Ada": 40, "Bo": 10, "Zoë": 10}), models=["majority"], folds=5)
    (candidate,) = result.candidates
    assert candidate.cv_score == pytest.approx(1 / 3)
    assert candidate.cv_se == 0.0


def test_the_forest_is_skipped_above_the_limit_with_a_note(monkeypatch):
    monkeypatch.setattr("celeb.model_search.FOREST_MAX_PEOPLE", 2)
    calls = []
    result = train_best_model(
        synthetic(),
        models=["logistic_regression", "random_forest"],
        folds=3,
        progress=lambda step, done, total: calls.append((step, done, total)),
    )
    assert [c.name for c in result.candidates] == ["logistic_regression"]
    assert result.settings["models"] == ["logistic_regression"]
    assert calls[0] == ("Searching Logistic regression", 0, 1)
    (note,) = result.notes
    assert note.startswith("Random forest not tried: 3 people and ")
    assert "(it is tried up to 2 people and 2000 rows;" in note
    # Asked for alone (a quick retrain of a forest), it is trained.
    alone = train_best_model(synthetic(), models=["random_forest"], folds=3)
    assert alone.winner == "random_forest" and alone.notes == []


def test_the_forest_is_skipped_above_the_rows_limit(monkeypatch):
    within = train_best_model(synthetic(), models=["svm_linear", "random_forest"], folds=3)
    assert [c.name for c in within.candidates] == ["svm_linear", "random_forest"] and within.notes == []
    monkeypatch.setattr("celeb.model_search.FOREST_MAX_ROWS", 10)
    result = train_best_model(synthetic(), models=["svm_linear", "random_forest"], folds=3)
    assert [c.name for c in result.candidates] == ["svm_linear"]
    assert "3 people and 36 training rows" in result.notes[0]


def test_a_person_named_right_far_less_often_is_a_warning():
    """Bo's four held-out photos look like Ada: the winner names them Ada."""
    data = synthetic({"Ada": 8, "Bo": 8, "Zoë": 8})
    held_out = {f"{person}-{photo}" for person in PEOPLE for photo in (0, 1, 2, 3)}
    features = data.features.copy()
    bo_test = (data.labels == "Bo") & np.isin(data.groups, list(held_out))
    features[bo_test] = data.features[(data.labels == "Ada") & np.isin(data.groups, list(held_out))]
    data = TrainingSet(features, data.labels, data.groups, data.is_copy)
    result = train_best_model(data, models=["logistic_regression"], folds=3, test_photos=held_out)
    assert result.low_recall == [PersonRecall("Bo", 0.0, 4)]
    (warning,) = result.warnings
    assert warning == (
        "the model named this person right on few of their held-out test faces (worst first): Bo 0 of 4; "
        "the median person: 100%. It may rarely name them: add photos of them, or compare other models."
    )


def test_few_test_faces_are_not_enough_for_a_warning(monkeypatch):
    monkeypatch.setattr("celeb.model_search.LOW_RECALL_MIN_FACES", 5)
    data = synthetic({"Ada": 8, "Bo": 8, "Zoë": 8})
    held_out = {f"{person}-{photo}" for person in PEOPLE for photo in (0, 1, 2, 3)}
    features = data.features.copy()
    features[(data.labels == "Bo") & np.isin(data.groups, list(held_out))] = features[
        (data.labels == "Ada") & np.isin(data.groups, list(held_out))
    ]
    data = TrainingSet(features, data.labels, data.groups, data.is_copy)
    result = train_best_model(data, models=["logistic_regression"], folds=3, test_photos=held_out)
    assert result.report["Bo"]["recall"] == 0.0
    assert result.low_recall == [] and result.warnings == []


def test_the_result_says_where_the_time_went(trained):
    result, _ = trained
    assert [t.stage for t in result.timings] == ["model search", "test and final fit"]
    assert all(isinstance(t, StageTime) and t.wall >= 0 and t.cpu >= 0 for t in result.timings)


# --------------------------------------------------------------------------- probabilities


def test_with_probabilities_wraps_svms_only():
    svm = CANDIDATES["svm_linear"].make()
    wrapped = with_probabilities(svm, 3)
    assert isinstance(wrapped, CalibratedClassifierCV)
    assert wrapped.estimator is svm
    assert wrapped.cv == 3
    assert wrapped.method == "sigmoid"
    assert with_probabilities(svm, 1).cv == 2
    assert with_probabilities(svm, 10).cv == 5
    assert isinstance(with_probabilities(SVC(), 3), CalibratedClassifierCV)
    assert isinstance(with_probabilities(CANDIDATES["svm_rbf"].make(), 3), CalibratedClassifierCV)
    for name in ("logistic_regression", "random_forest"):
        estimator = CANDIDATES[name].make()
        assert with_probabilities(estimator, 3) is estimator
    forest = RandomForestClassifier()
    assert with_probabilities(forest, 3) is forest


def test_predict_labels_agrees_with_predict_proba():
    data = synthetic().originals
    model = with_probabilities(CANDIDATES["svm_linear"].make(), 3).fit(data.features, data.labels)
    rng = np.random.default_rng(5)
    points = rng.normal(0, 2.0, (200, data.features.shape[1])).astype(np.float32)  # many unsure points
    labels = predict_labels(model, points)
    expected = np.asarray(model.classes_)[model.predict_proba(points).argmax(axis=1)]
    np.testing.assert_array_equal(labels, expected)
    assert set(labels) <= set(PEOPLE)


# --------------------------------------------------------------------------- bundles


@pytest.fixture
def bundle(trained) -> ModelBundle:
    result, _ = trained
    engine = ClassicEngine(FeatureSettings(size=16))
    return bundle_from_training(result, engine, synthetic(), dataset_fingerprint="abc123")


def test_bundle_from_training(bundle: ModelBundle, trained):
    result, _ = trained
    assert bundle.estimator is result.estimator
    assert bundle.classes == result.classes
    assert bundle.engine_settings == {
        "features": FeatureSettings(size=16).as_dict(),
        "detector": vars(DetectorSettings()),
    }
    assert bundle.make_engine().feature_settings == FeatureSettings(size=16)
    assert bundle.test_accuracy == 1.0
    assert bundle.metrics["winner"] == result.winner
    assert bundle.metrics["confusion"] == result.confusion.tolist()
    assert [c["name"] for c in bundle.metrics["candidates"]] == ["logistic_regression", "svm_linear"]
    assert bundle.dataset_fingerprint == "abc123"
    assert bundle.training_photos == frozenset(synthetic().groups)  # every photo, held-out ones too
    assert bundle.engine == "classic"
    assert bundle.versions == library_versions(ClassicEngine())
    assert bundle.versions["scikit-learn"] == sklearn.__version__
    assert set(bundle.versions) == {"python", "scikit-learn", "numpy", "joblib", "opencv", "pywavelets"}


def test_save_and_load_round_trip(bundle: ModelBundle, tmp_path: Path):
    path = save_bundle(bundle, tmp_path / "models" / "model.joblib")
    assert path == tmp_path / "models" / "model.joblib"
    assert [p.name for p in path.parent.iterdir()] == ["model.joblib"]  # no temporary file left
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_bundle(path)
    assert loaded.classes == bundle.classes
    assert loaded.engine_settings == bundle.engine_settings
    assert loaded.make_engine().feature_settings == FeatureSettings(size=16)
    assert loaded.metrics == bundle.metrics
    assert loaded.dataset_fingerprint == "abc123"
    assert loaded.training_photos == bundle.training_photos and loaded.training_photos
    assert loaded.trained_at == bundle.trained_at
    assert loaded.versions == bundle.versions
    assert loaded.engine == "classic"
    points = synthetic(seed=2).features
    np.testing.assert_allclose(loaded.predict_proba(points), bundle.predict_proba(points))


def test_missing_model_file(tmp_path: Path):
    path = tmp_path / "nothing.joblib"
    with pytest.raises(ModelError) as info:
        load_bundle(path)
    assert str(info.value) == (
        f"no model file at {path}; train one first (Train page or `python -m celeb train`)"
    )


def test_a_folder_is_not_a_model(tmp_path: Path):
    with pytest.raises(ModelError, match="no model file at"):
        load_bundle(tmp_path)


@pytest.mark.parametrize("content", [b"", b"garbage, not a joblib file", "truncated"])
def test_damaged_model_file(bundle: ModelBundle, tmp_path: Path, content):
    path = tmp_path / "model.joblib"
    if content == "truncated":
        save_bundle(bundle, path)
        path.write_bytes(path.read_bytes()[:300])
    else:
        path.write_bytes(content)
    with pytest.raises(ModelError) as info:
        load_bundle(path)
    assert str(info.value).startswith("the model file model.joblib is damaged or not a celeb model (")


@pytest.mark.parametrize("stored", [["a", "list"], {"format": BUNDLE_FORMAT + 1, "bundle": {}}, "text"])
def test_other_joblib_files_are_not_models(tmp_path: Path, stored):
    path = tmp_path / "other.joblib"
    joblib.dump(stored, path)
    with pytest.raises(ModelError) as info:
        load_bundle(path)
    assert str(info.value) == f"other.joblib is not a celeb model file (format {BUNDLE_FORMAT})"


def test_a_format_1_model_file_still_loads(bundle: ModelBundle, tmp_path: Path):
    """Files are written in format 2 (which a celeb reading format 1 only refuses, rather than
    describing faces one way against a gallery made another); format 1 files load as before."""
    path = save_bundle(bundle, tmp_path / "model.joblib")
    stored = joblib.load(path)
    assert stored["format"] == BUNDLE_FORMAT == 2
    joblib.dump({**stored, "format": 1}, path)
    assert load_bundle(path).classes == bundle.classes


def test_model_file_missing_a_field(bundle: ModelBundle, tmp_path: Path):
    path = save_bundle(bundle, tmp_path / "model.joblib")
    stored = joblib.load(path)
    del stored["bundle"]["classes"]
    joblib.dump(stored, path)
    with pytest.raises(ModelError) as info:
        load_bundle(path)
    assert str(info.value) == "the model file lacks 'classes'; it was made by another version of celeb"


def test_a_model_file_from_before_engines_stored_their_settings(bundle: ModelBundle, tmp_path: Path):
    # Such files kept the classic engine's settings under "features" and "detector" only.
    path = save_bundle(bundle, tmp_path / "model.joblib")
    stored = joblib.load(path)
    assert stored["bundle"]["features"] == FeatureSettings(size=16).as_dict()  # older celeb reads it
    for key in ("engine", "engine_settings", "training_photos", "gallery"):
        del stored["bundle"][key]
    stored["bundle"]["detector"]["min_neighbors"] = 3
    joblib.dump(stored, path)
    engine = load_bundle(path).make_engine()
    assert engine.name == "classic"
    assert engine.feature_settings == FeatureSettings(size=16)
    assert engine.detector_settings == DetectorSettings(min_neighbors=3)


def test_model_file_without_a_bundle(tmp_path: Path):
    path = tmp_path / "model.joblib"
    joblib.dump({"format": BUNDLE_FORMAT}, path)
    with pytest.raises(ModelError):
        load_bundle(path)


def test_other_scikit_learn_version_warns(
    bundle: ModelBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(bundle, "versions", {**bundle.versions, "scikit-learn": "0.0.1"})
    path = save_bundle(bundle, tmp_path / "old.joblib")
    with pytest.warns(UserWarning) as caught:
        loaded = load_bundle(path)
    messages = [str(w.message) for w in caught]
    assert messages == [
        f"the model old.joblib was made with scikit-learn 0.0.1; this is {sklearn.__version__}. "
        "Its answers may differ: retrain it to be sure."
    ]
    assert loaded.classes == bundle.classes  # a warning, not a refusal


def test_bundle_probabilities_follow_its_classes():
    data = synthetic().originals
    estimator = Pipeline([("model", LogisticRegression(max_iter=1000))]).fit(data.features, data.labels)
    assert list(estimator.classes_) == ["Ada", "Bo", "Zoë"]
    order = ["Zoë", "Ada", "Bo"]
    bundle = ModelBundle(estimator=estimator, classes=order)
    points = data.features[:5]
    raw = estimator.predict_proba(points)
    np.testing.assert_array_equal(bundle.predict_proba(points), raw[:, [2, 0, 1]])
    best = [order[i] for i in bundle.predict_proba(data.features).argmax(axis=1)]
    assert best == list(data.labels)


def test_bundle_defaults():
    bundle = ModelBundle(estimator=None, classes=["a", "b"])
    assert bundle.test_accuracy is None
    assert bundle.engine == "classic" and bundle.engine_settings == {}
    assert bundle.make_engine().settings() == ClassicEngine().settings()
    assert bundle.trained_at.endswith("+00:00")
    assert set(bundle.versions) == {"python", "scikit-learn", "numpy", "joblib"}


def test_quick_retrain_reuses_the_winners_parameters(bundle: ModelBundle):
    quick = bundle.winner_params
    ((winner, params),) = quick.items()
    assert winner == bundle.metrics["winner"]
    assert params == next(c["params"] for c in bundle.metrics["candidates"] if c["name"] == winner)
    result = train_best_model(synthetic(seed=1), models=list(quick), folds=3, params=quick)
    assert [c.name for c in result.candidates] == [winner]
    assert result.candidates[0].params == params
    assert result.settings["fixed_params"] == quick


def test_a_bundle_without_figures_offers_no_quick_retrain():
    assert ModelBundle(estimator=None, classes=["a", "b"]).winner_params == {}
