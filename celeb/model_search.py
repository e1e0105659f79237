"""Pick the best classifier for a set of face feature vectors.

GridSearchCV runs over every candidate model with stratified folds that keep
a photo's faces (and their mirrored copies) together, scored by balanced
accuracy (every person counts alike, however few their photos); a tie goes to
the simpler model. The winner is scored on a held-out test split of whole
photos, where a person it names right far less often than the others is
flagged, then refitted on everything. The workflows that train a model from the
dataset store by a recipe (and compare engines) are in :mod:`celeb.training`.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from .config import (
    FOREST_MAX_PEOPLE,
    FOREST_MAX_ROWS,
    LOW_RECALL,
    LOW_RECALL_GAP,
    LOW_RECALL_MIN_FACES,
    SELECTION_TIE_MARGIN,
)
from .errors import TrainingError
from .faces import TrainingSet


@dataclass(frozen=True)
class Candidate:
    """A model to try and the parameter grid to search."""

    name: str
    label: str
    make: Callable[[], BaseEstimator]
    grid: dict[str, list]


def _pipeline(estimator: BaseEstimator) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("model", estimator)])


#: The candidates, simplest first: a tie in cross-validation goes to the one listed first
#: (:func:`pick_winner`), whatever order they are asked for in.
CANDIDATES: dict[str, Candidate] = {
    candidate.name: candidate
    for candidate in (
        Candidate(
            "logistic_regression",
            "Logistic regression",
            lambda: _pipeline(LogisticRegression(max_iter=3000, class_weight="balanced")),
            {"model__C": [0.0003, 0.001, 0.01]},
        ),
        Candidate(
            "svm_linear",
            "SVM (linear)",
            lambda: _pipeline(SVC(kernel="linear", class_weight="balanced")),
            {"model__C": [0.0001, 0.001, 0.01]},
        ),
        Candidate(
            "svm_rbf",
            "SVM (RBF kernel)",
            lambda: _pipeline(SVC(kernel="rbf", class_weight="balanced")),
            {"model__C": [1, 10, 100], "model__gamma": ["scale", 1e-4]},
        ),
        Candidate(
            "random_forest",
            "Random forest",
            lambda: _pipeline(RandomForestClassifier(class_weight="balanced", n_jobs=1, random_state=0)),
            {"model__n_estimators": [300], "model__max_features": ["sqrt"]},
        ),
    )
}


@dataclass(frozen=True)
class CandidateResult:
    name: str
    label: str
    #: Best balanced accuracy in cross-validation (the mean over people of their faces named right).
    cv_score: float
    params: dict
    fit_seconds: float
    #: Standard error of ``cv_score`` over the folds.
    cv_se: float = 0.0


@dataclass(frozen=True)
class PersonRecall:
    """How many of a person's held-out test faces the winner named right."""

    person: str
    recall: float
    faces: int

    @property
    def right(self) -> int:
        return round(self.recall * self.faces)


@dataclass(frozen=True)
class StageTime:
    """Where a training run's time went: one stage's wall-clock and CPU seconds.

    CPU seconds are this process's, all its threads (``time.process_time``); a
    search run with ``n_jobs`` in other processes is not counted.
    """

    stage: str
    wall: float
    cpu: float


@contextmanager
def timed(stage: str, timings: list[StageTime]) -> Iterator[None]:
    """Append the time the ``with`` block takes to ``timings``, as ``stage``."""
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        timings.append(StageTime(stage, time.perf_counter() - wall, time.process_time() - cpu))


def timings_text(timings: Iterable[StageTime]) -> str:
    """One line: each stage's wall-clock / CPU seconds, and the total.

    >>> timings_text([StageTime("features", 1.3, 2.5), StageTime("model search", 10, 9.5)])
    'features 1.3 / 2.5 s, model search 10.0 / 9.5 s; total 11.3 / 12.0 s (wall / CPU)'
    """
    timings = list(timings)
    stages = ", ".join(f"{t.stage} {t.wall:.1f} / {t.cpu:.1f} s" for t in timings)
    wall, cpu = sum(t.wall for t in timings), sum(t.cpu for t in timings)
    return f"{stages}; total {wall:.1f} / {cpu:.1f} s (wall / CPU)"


@dataclass
class TrainingResult:
    """Everything a person needs to judge a trained model."""

    estimator: BaseEstimator
    classes: list[str]
    candidates: list[CandidateResult]
    winner: str
    test_accuracy: float
    report: dict
    report_text: str
    confusion: np.ndarray
    train_size: int
    test_size: int
    settings: dict = field(default_factory=dict)
    #: (person, photo, predicted person) of every scored test face: what :func:`score_photos` needs.
    test_faces: list[tuple[str, str, str]] = field(default_factory=list)
    #: People the winner named right far less often than the others on the test split, worst first.
    low_recall: list[PersonRecall] = field(default_factory=list)
    #: What the run left out and why (a candidate skipped), in words.
    notes: list[str] = field(default_factory=list)
    #: Where the time went, stage by stage (the features' stage added by ``training.train_from_store``).
    timings: list[StageTime] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        """What a person must hear about this model before using it, in words."""
        if not self.low_recall:
            return []
        who = f"these {len(self.low_recall)} people" if len(self.low_recall) > 1 else "this person"
        named = ", ".join(f"{p.person} {p.right} of {p.faces}" for p in self.low_recall)
        median = float(np.median([p.recall for p in per_person_recall(self.report, self.classes)]))
        return [
            f"the model named {who} right on few of their held-out test faces (worst first): {named}; "
            f"the median person: {median:.0%}. It may rarely name them: add photos of them, or compare "
            "other models."
        ]

    def table(self) -> list[dict]:
        """The model comparison, best first, as rows for a table."""
        return [
            {
                "model": c.label,
                "CV balanced accuracy": round(c.cv_score, 3),
                "± SE": round(c.cv_se, 3),
                "parameters": ", ".join(f"{k.removeprefix('model__')}={v}" for k, v in c.params.items()),
                "fit seconds": round(c.fit_seconds, 2),
                "winner": c.name == self.winner,
            }
            for c in sorted(self.candidates, key=lambda c: c.cv_score, reverse=True)
        ]


ProgressCallback = Callable[[str, int, int], None]


def train_best_model(
    data: TrainingSet,
    *,
    models: list[str] | None = None,
    test_size: float = 0.25,
    folds: int = 5,
    random_state: int = 0,
    refit_on_all: bool = True,
    progress: ProgressCallback | None = None,
    n_jobs: int | None = None,
    params: dict[str, dict] | None = None,
    grids: dict[str, dict] | None = None,
    test_photos: set[str] | None = None,
) -> TrainingResult:
    """Grid-search every candidate, score the winner on a held-out split.

    Candidates are scored by balanced accuracy in cross-validation (each
    person counts alike); a tie goes to the simpler (:func:`pick_winner`). The
    random forest is left out, with a note, above ``FOREST_MAX_PEOPLE`` people
    or ``FOREST_MAX_ROWS`` training rows unless it is the only model asked for.
    People the winner names right far less often than the others on the test
    split are in ``low_recall`` (:func:`low_recall`).

    ``progress(step, done, total)`` is called as each candidate finishes.
    ``params`` fixes a candidate's parameters instead of searching its grid
    (``{"svm_rbf": {"model__C": 10, ...}}``): retraining with the previous
    winner's parameters after a few rejections takes seconds. ``grids``
    replaces candidates' grids (an engine's features want other ranges).
    ``test_photos`` names the photos (groups) to hold out, so that two
    engines can be scored on the same split; by default a stratified split.
    Raises :class:`TrainingError` when the data cannot support training.
    """
    names = models or list(CANDIDATES)
    unknown = sorted(set(names) - set(CANDIDATES))
    if unknown:
        raise TrainingError(f"unknown model(s) {unknown}; choose from {sorted(CANDIDATES)}")
    _check_enough_data(data, test_size, folds)

    if test_photos is None:
        train_mask, test_mask = _split_by_photo(data, test_size, random_state)
    else:
        test_mask = np.isin(data.groups, list(test_photos))
        train_mask = ~test_mask
        if not test_mask.any() or len(np.unique(data.labels[train_mask])) < len(np.unique(data.labels)):
            raise TrainingError("the held-out photos leave a person without training or test faces")
    train, test = data.subset(train_mask), data.subset(test_mask).originals
    folds = cv_folds(train, folds)
    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=random_state)
    names, notes = _affordable(names, people=len(np.unique(train.labels)), rows=len(train.labels))
    timings: list[StageTime] = []

    # Many small fits: BLAS threads only fight each other (and the app's other
    # sessions) here; one thread each is several times faster on 2 cores.
    with threadpool_limits(limits=1):
        results = []
        with timed("model search", timings):
            for done, name in enumerate(names):
                candidate = CANDIDATES[name]
                if progress:
                    progress(f"Searching {candidate.label}", done, len(names))
                grid = (
                    {key: [value] for key, value in params[name].items()}
                    if name in (params or {})
                    else (grids or {}).get(name, candidate.grid)
                )
                # refit=False: the winner is fitted below, with probabilities; a refit here was thrown away.
                search = GridSearchCV(
                    candidate.make(),
                    grid,
                    scoring="balanced_accuracy",
                    cv=cv,
                    n_jobs=n_jobs,
                    refit=False,
                    error_score="raise",
                )
                started = time.perf_counter()
                with warnings.catch_warnings():
                    # "least populated class" chatter, and a fold's answers naming a person it lacks
                    warnings.simplefilter("ignore", category=UserWarning)
                    search.fit(train.features, train.labels, groups=train.groups)
                elapsed = time.perf_counter() - started
                best = search.best_index_
                results.append(
                    CandidateResult(
                        name,
                        candidate.label,
                        float(search.cv_results_["mean_test_score"][best]),
                        dict(search.best_params_),
                        elapsed,
                        float(search.cv_results_["std_test_score"][best]) / math.sqrt(search.n_splits_),
                    )
                )
        winner = pick_winner(results)
        if progress:
            progress("Scoring the winner on the test split", len(names), len(names))

        with timed("test and final fit", timings):
            chosen = next(r for r in results if r.name == winner)
            evaluated = fit_candidate(winner, chosen.params, train, folds)
            predicted = predict_labels(evaluated, test.features)
            classes = [str(c) for c in evaluated.classes_]
            report = classification_report(
                test.labels, predicted, labels=classes, output_dict=True, zero_division=0
            )
            report_text = classification_report(test.labels, predicted, labels=classes, zero_division=0)
            confusion = confusion_matrix(test.labels, predicted, labels=classes)
            final = evaluated
            if refit_on_all:
                final = fit_candidate(winner, chosen.params, data, folds)
    return TrainingResult(
        estimator=final,
        classes=classes,
        candidates=results,
        winner=winner,
        test_accuracy=float(accuracy_score(test.labels, predicted)),
        report=report,
        report_text=report_text,
        confusion=confusion,
        train_size=int((~train.is_copy).sum()),
        test_size=len(test.labels),
        settings={
            "test_size": test_size,
            "folds": folds,
            "random_state": random_state,
            "refit_on_all": refit_on_all,
            "models": names,
            "fixed_params": params or {},
        },
        test_faces=[
            (str(person), str(photo), str(answer))
            for person, photo, answer in zip(test.labels, test.groups, predicted, strict=True)
        ],
        low_recall=low_recall(per_person_recall(report, classes)),
        notes=notes,
        timings=timings,
    )


def pick_winner(results: list[CandidateResult]) -> str:
    """The best candidate in cross-validation, a tie going to the simpler.

    A tie: within the best score's standard error, or ``SELECTION_TIE_MARGIN``
    of it. The simpler: listed earlier in :data:`CANDIDATES`, whatever order
    the candidates were searched in. At 40 people the four candidates tied at
    0.998 and the SVM (RBF), listed first then, won; its calibrated
    probabilities never named some people with few photos.

    >>> rbf = CandidateResult("svm_rbf", "SVM", 0.999, {}, 1.0, cv_se=0.001)
    >>> pick_winner([rbf, CandidateResult("logistic_regression", "LR", 0.996, {}, 1.0)])
    'logistic_regression'
    >>> pick_winner([rbf, CandidateResult("logistic_regression", "LR", 0.98, {}, 1.0)])
    'svm_rbf'
    """
    best = max(results, key=lambda r: r.cv_score)
    floor = best.cv_score - max(best.cv_se, SELECTION_TIE_MARGIN)
    order = list(CANDIDATES)
    tied = [r for r in results if r.cv_score >= floor]
    return min(tied, key=lambda r: order.index(r.name) if r.name in order else len(order)).name


def _affordable(names: list[str], people: int, rows: int) -> tuple[list[str], list[str]]:
    """``names`` without the random forest where its search would take minutes, and a note saying so.

    Kept when it is the only candidate asked for (a quick retrain of a forest).
    """
    forest = "random_forest"
    if forest not in names or len(names) == 1 or (people <= FOREST_MAX_PEOPLE and rows <= FOREST_MAX_ROWS):
        return names, []
    note = (
        f"{CANDIDATES[forest].label} not tried: {people} people and {rows} training rows "
        f"(it is tried up to {FOREST_MAX_PEOPLE} people and {FOREST_MAX_ROWS} rows; its search grows "
        "to minutes with many people while the others take seconds). Choose it alone to train it."
    )
    return [name for name in names if name != forest], [note]


def most_confused(confusion: Sequence[Sequence[float]], classes: Sequence[str], top: int) -> list[Confusion]:
    """The ``top`` most frequent mistakes of a confusion matrix (rows: truth, columns: answer), most
    first: what a reader needs past a matrix too large to read.

    >>> most_confused([[5, 2, 0], [0, 4, 1], [3, 0, 6]], ["Ann", "Bob", "Cy"], 2)
    [Confusion(truth='Cy', answer='Ann', faces=3), Confusion(truth='Ann', answer='Bob', faces=2)]
    """
    mistakes = [
        Confusion(classes[row], classes[column], int(count))
        for row, counts in enumerate(confusion)
        for column, count in enumerate(counts)
        if row != column and count > 0
    ]
    return sorted(mistakes, key=lambda m: (-m.faces, m.truth, m.answer))[:top]


@dataclass(frozen=True)
class Confusion:
    """A person's held-out faces given another person's name."""

    truth: str
    answer: str
    faces: int


def per_person_recall(report: dict, classes: Iterable[str]) -> list[PersonRecall]:
    """Each person's share of held-out test faces named right (a classification report's recall), worst
    first; people without test faces are left out.

    >>> report = {"Ann": {"recall": 1.0, "support": 4}, "Bob": {"recall": 0.25, "support": 4}}
    >>> [(p.person, p.recall, p.faces, p.right) for p in per_person_recall(report, ["Ann", "Bob"])]
    [('Bob', 0.25, 4, 1), ('Ann', 1.0, 4, 4)]
    """
    recalls = [
        PersonRecall(person, float(report[person]["recall"]), int(report[person]["support"]))
        for person in classes
        if person in report and report[person]["support"]
    ]
    return sorted(recalls, key=lambda p: (p.recall, p.person))


def low_recall(recalls: list[PersonRecall]) -> list[PersonRecall]:
    """The people (with at least ``LOW_RECALL_MIN_FACES`` test faces) named right on less than
    ``LOW_RECALL`` of them, or ``LOW_RECALL_GAP`` less than the median person; in ``recalls``' order.

    >>> people = [PersonRecall(name, 1.0, 5) for name in "ABCD"]
    >>> [p.person for p in low_recall([PersonRecall("Zoe", 0.6, 5), PersonRecall("Ian", 0.0, 2), *people])]
    ['Zoe']
    """
    if not recalls:
        return []
    median = float(np.median([p.recall for p in recalls]))
    return [
        p
        for p in recalls
        if p.faces >= LOW_RECALL_MIN_FACES and (p.recall < LOW_RECALL or p.recall < median - LOW_RECALL_GAP)
    ]


@dataclass(frozen=True)
class PhotoScore:
    """One engine scored on held-out photos that every engine shares."""

    photos: int  # held-out photos, each (person, photo): the same for every engine compared
    right: int  # photos whose faces of that person the engine all named right
    no_face: int  # photos where the engine kept no face of that person: counted as misses

    @property
    def accuracy(self) -> float:
        return self.right / self.photos if self.photos else 0.0


def score_photos(held_out: Iterable[tuple[str, str]], faces: Iterable[tuple[str, str, str]]) -> PhotoScore:
    """Score one engine's test faces on the held-out photos of every engine compared.

    ``held_out`` holds (person, photo) pairs: a person's photo held out (a photo
    filed under two people counts once for each). ``faces`` holds one engine's
    (person, photo, predicted) test faces (:attr:`TrainingResult.test_faces`).

    Per-face accuracies of two engines are not comparable: an engine that finds
    no face in a hard photo drops it from its own test set and looks better.
    Here a photo where the engine kept no face of that person counts as a miss,
    and a photo is right only when every face of that person on it is named
    right.

    >>> held_out = [("Ann", "p1"), ("Ann", "p2"), ("Bob", "p3")]
    >>> score = score_photos(held_out, [("Ann", "p1", "Ann"), ("Bob", "p3", "Ann")])
    >>> score.photos, score.right, score.no_face
    (3, 1, 1)
    """
    wanted = set(held_out)
    answers: dict[tuple[str, str], list[str]] = {}
    for person, photo, predicted in faces:
        if (person, photo) in wanted:
            answers.setdefault((person, photo), []).append(predicted)
    right = sum(1 for (person, _), said in answers.items() if all(answer == person for answer in said))
    return PhotoScore(photos=len(wanted), right=right, no_face=len(wanted) - len(answers))


def fit_candidate(name: str, params: dict, data: TrainingSet, folds: int = 5) -> BaseEstimator:
    """The candidate ``name`` with ``params``, fitted on all of ``data`` with probabilities: how
    :func:`train_best_model` fits its winner (on the training split, then on everything), and how a
    benchmark fits a winner's parameters on each split of its own."""
    estimator = CANDIDATES[name].make().set_params(**params)
    return with_probabilities(estimator, cv_folds(data, folds)).fit(data.features, data.labels)


def with_probabilities(estimator: BaseEstimator, folds: int) -> BaseEstimator:
    """The estimator itself if it has ``predict_proba``, else a calibrated wrapper.

    Replaces the deprecated ``SVC(probability=True)``.
    """
    inner = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    if hasattr(inner, "predict_proba") and not isinstance(inner, SVC):
        return estimator
    # ensemble=False: one estimator fitted on everything, calibrated on
    # cross-validated predictions; a fifth of the file size of an ensemble.
    return CalibratedClassifierCV(estimator, cv=max(2, min(folds, 5)), method="sigmoid", ensemble=False)


def predict_labels(estimator: BaseEstimator, features: np.ndarray) -> np.ndarray:
    """Predictions that always agree with ``predict_proba`` (its argmax)."""
    probabilities = estimator.predict_proba(features)
    return np.asarray(estimator.classes_)[probabilities.argmax(axis=1)]


def _check_enough_data(data: TrainingSet, test_size: float, folds: int) -> None:
    if not 0.05 <= test_size <= 0.5:
        raise TrainingError("the test share must be between 0.05 and 0.5")
    if folds < 2:
        raise TrainingError("cross-validation needs at least 2 folds")
    originals = data.originals
    classes = np.unique(originals.labels)
    if len(classes) < 2:
        raise TrainingError("training needs at least two people with faces")
    needed = 2 + max(2, round(1 / test_size) - 1)
    counts = {str(c): len(np.unique(originals.groups[originals.labels == c])) for c in classes}
    short = {person: n for person, n in counts.items() if n < needed}
    if short:
        listing = ", ".join(f"{person} ({n})" for person, n in sorted(short.items()))
        raise TrainingError(
            f"every person needs faces from at least {needed} photos to train and test; too few: {listing}"
        )


def cv_folds(data: TrainingSet, folds: int = 5) -> int:
    """The cross-validation folds for ``data``: ``folds``, fewer when a person has fewer photos (2 at least).

    What :func:`train_best_model` uses, and what a model fitted outside it
    (with fixed parameters) needs for :func:`with_probabilities`.

    >>> one = lambda *values: np.asarray(values, dtype=object)
    >>> data = TrainingSet(np.zeros((4, 1)), one("a", "a", "a", "b"), one(1, 2, 3, 4), np.zeros(4, bool))
    >>> cv_folds(data), cv_folds(data, folds=1)
    (2, 1)
    """
    originals = data.originals
    smallest = min(
        len(np.unique(originals.groups[originals.labels == person])) for person in np.unique(originals.labels)
    )
    return min(folds, max(2, smallest))


def held_out_photos(data: TrainingSet, test_size: float = 0.25, random_state: int = 0) -> set[str]:
    """The photos a default split holds out: pass them as ``test_photos`` to score another engine alike."""
    return held_out_groups(data.labels, data.groups, test_size, random_state)


def held_out_groups(
    labels: np.ndarray, groups: np.ndarray, test_size: float = 0.25, random_state: int = 0
) -> set[str]:
    """The groups (photos) a default split holds out of rows labelled ``labels``: no features needed.

    >>> people = np.asarray(["a"] * 4 + ["b"] * 4, dtype=object)
    >>> held = held_out_groups(people, np.asarray([f"p{i}" for i in range(8)]), 0.25)
    >>> len(held), sorted({people[int(photo[1])] for photo in held})
    (2, ['a', 'b'])
    """
    _, test_mask = _split_groups(labels, groups, test_size, random_state)
    return {str(group) for group in np.unique(groups[test_mask])}


def _split_by_photo(data: TrainingSet, test_size: float, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of a stratified split that keeps each photo on one side."""
    return _split_groups(data.labels, data.groups, test_size, random_state)


def _split_groups(
    labels: np.ndarray, groups: np.ndarray, test_size: float, random_state: int
) -> tuple[np.ndarray, np.ndarray]:
    splits = max(2, round(1 / test_size))
    splitter = StratifiedGroupKFold(n_splits=splits, shuffle=True, random_state=random_state)
    # The split reads only the number of rows of X: the labels and the groups decide it.
    train_index, _ = next(splitter.split(np.zeros((len(labels), 1)), labels, groups))
    train_mask = np.zeros(len(labels), dtype=bool)
    train_mask[train_index] = True
    return train_mask, ~train_mask
