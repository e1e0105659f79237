"""A trained model as a file: the estimator plus what is needed to trust it.

Bundles are written with joblib (atomically) and only ever loaded from the
``models/`` folder or a path the operator names: joblib files can run code
when loaded, so a file uploaded through the browser is never unpickled.
"""

from __future__ import annotations

import io
import platform
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import joblib
import numpy as np
import sklearn

from .config import DEFAULT_STRICTNESS
from .engines import LEGACY_ENGINE, Engine, get_engine
from .errors import ModelError
from .faces import TrainingSet
from .model_search import TrainingResult
from .open_set import OpenSetRule, distances_to_people, index_people, pairwise_distances
from .storage import utc_timestamp, write_atomic
from .versions import other_version_note

#: The format written. 2: an embeddings model may describe faces with their mirror image, which a
#: version of celeb that reads only format 1 would ignore, naming faces against a gallery made
#: otherwise; it refuses the file instead. Format 1 files (one view) are read as before.
BUNDLE_FORMAT = 2
READABLE_FORMATS = (1, 2)


@dataclass
class Gallery:
    """The training faces' feature vectors, and the rule that names a face from its distances to
    them or calls it unknown (:class:`celeb.open_set.OpenSetRule`, fitted on these faces).

    ``threshold`` is how far a known person's face may be from their own other faces (the
    rule's ``same_person_distance``): the scale unknown faces are grouped at.
    """

    vectors: np.ndarray  # (n, d) float32
    labels: list[str]
    threshold: float
    #: None in files made before the rule: it is then fitted on these faces when first needed.
    rule: OpenSetRule | None = None

    #: The people in name order and each training face's index among them: derived once, not per photo.
    _people: list[str] = field(init=False, repr=False, compare=False)
    _person_of: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.rule, dict):
            self.rule = OpenSetRule.from_json(self.rule)
        if self.rule is None:
            self.rule = OpenSetRule.fit(self.vectors, self.labels)
        self._people, self._person_of = index_people(self.labels)

    def nearest_per_person(self, vectors: np.ndarray) -> list[dict[str, float]]:
        """For each row of ``vectors``: its distance to every person (the rule's measure, see
        :func:`celeb.open_set.distances_to_people`), nearest first.

        >>> gallery = Gallery(np.eye(3, dtype=np.float32), np.asarray(["a", "b", "b"]), 0.5)
        >>> {name: round(d, 3) for name, d in gallery.nearest_per_person(np.eye(3)[1:2])[0].items()}
        {'b': 0.707, 'a': 1.414}
        """
        people = self._people
        table = distances_to_people(pairwise_distances(vectors, self.vectors), self._person_of, len(people))
        rows = []
        for row in table:
            order = np.argsort(row, kind="stable")
            rows.append({people[i]: float(row[i]) for i in order})
        return rows


def make_gallery(data: TrainingSet, strictness: str = DEFAULT_STRICTNESS) -> Gallery:
    """A gallery of ``data``'s original faces with its rule fitted on them (faces of one photo
    never judge each other) at ``strictness``."""
    originals = data.originals
    vectors = originals.features.astype(np.float32)
    labels = [str(label) for label in originals.labels]
    rule = OpenSetRule.fit(vectors, labels, [str(group) for group in originals.groups], strictness)
    return Gallery(vectors, labels, rule.same_person_distance, rule)


@dataclass
class ModelBundle:
    """A fitted estimator with its classes, settings and figures."""

    estimator: object
    classes: list[str]
    metrics: dict = field(default_factory=dict)  # test accuracy, report, confusion, candidates
    dataset_fingerprint: str = ""
    trained_at: str = field(default_factory=utc_timestamp)
    versions: dict = field(default_factory=lambda: library_versions())
    engine: str = LEGACY_ENGINE
    gallery: Gallery | None = None  # open-set engines: the training faces, for "unknown person"
    #: The engine's own settings (``Engine.settings()``): ``make_engine`` rebuilds it from them (a
    #: key an older file lacks takes what the engine did then: ``Engine.from_settings``).
    engine_settings: dict = field(default_factory=dict)
    #: The sha256 (``celeb.manifest.content_hash``) of every photo its training faces came from, so
    #: that an evaluation can tell when it is shown photos it learnt from; empty in older files.
    training_photos: frozenset[str] = frozenset()

    def make_engine(self) -> Engine:
        """The engine this model was trained with, with its settings; EngineUnavailable when its
        packages are not installed."""
        return get_engine(self.engine, self.engine_settings)

    def with_strictness(self, strictness: str) -> ModelBundle:
        """The same model naming at another of its fitted strictness settings (saved with it)."""
        if self.gallery is None:
            raise ModelError("this model names by probability: it has no strictness to choose")
        gallery = replace(self.gallery, rule=self.gallery.rule.with_strictness(strictness))
        return replace(self, gallery=gallery)

    @property
    def test_accuracy(self) -> float | None:
        return self.metrics.get("test_accuracy")

    @property
    def winner_params(self) -> dict[str, dict]:
        """``{winner: its parameters}``, for a quick retrain (see ``train_best_model``)."""
        winner = self.metrics.get("winner")
        for candidate in self.metrics.get("candidates", []):
            if candidate.get("name") == winner:
                return {winner: dict(candidate.get("params", {}))}
        return {}

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Probabilities in the order of ``classes``."""
        probabilities = self.estimator.predict_proba(features)
        order = [list(self.estimator.classes_).index(name) for name in self.classes]
        return probabilities[:, order]


def library_versions(engine: Engine | None = None) -> dict:
    """The versions a model is made with: Python, scikit-learn, NumPy and joblib, and those the
    engine names (:meth:`Engine.library_versions`)."""
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "joblib": joblib.__version__,
        **(engine.library_versions() if engine is not None else {}),
    }


def save_bundle(bundle: ModelBundle, path: Path) -> Path:
    """Write the bundle to ``path`` atomically; returns the path."""
    buffer = io.BytesIO()
    joblib.dump({"format": BUNDLE_FORMAT, "bundle": _as_dict(bundle)}, buffer, compress=3)
    write_atomic(Path(path), buffer.getvalue())
    return Path(path)


def load_bundle(path: Path) -> ModelBundle:
    """Read a bundle written by :func:`save_bundle`.

    Raises :class:`ModelError` for a missing or damaged file; warns (with
    ``UserWarning``) when it was made with another scikit-learn version.
    """
    bundle, note = read_bundle(path)
    if note:
        warnings.warn(note, UserWarning, stacklevel=2)
    return bundle


def read_bundle(path: Path) -> tuple[ModelBundle, str]:
    """The bundle written by :func:`save_bundle` at ``path``, and what to tell its user when it was
    made with another scikit-learn ("" when not): the one way the CLI, the app, the registry and the
    benchmarks load a model. Raises :class:`ModelError` for a missing or damaged file."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"no model file at {path}; train one first (Train page or `python -m celeb train`)")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            stored = joblib.load(path)
    except Exception as exc:  # joblib raises anything from EOFError to KeyError on damage
        raise ModelError(f"the model file {path.name} is damaged or not a celeb model ({exc})") from exc
    if (
        not isinstance(stored, dict)
        or stored.get("format") not in READABLE_FORMATS
        or not isinstance(stored.get("bundle"), dict)
    ):
        raise ModelError(f"{path.name} is not a celeb model file (format {BUNDLE_FORMAT})")
    bundle = _from_dict(stored["bundle"])
    made_with = bundle.versions.get("scikit-learn")
    # scikit-learn's own warning catches an estimator pickled by another version than recorded.
    pickled_elsewhere = any("InconsistentVersion" in str(w.category) for w in caught)
    return bundle, other_version_note(path.name, made_with, pickled_elsewhere=pickled_elsewhere)


def _as_dict(bundle: ModelBundle) -> dict:
    # "features" and "detector" held the classic engine's settings before engines stored theirs in
    # "engine_settings"; still written, so that older versions of celeb read the file.
    classic = bundle.engine_settings if bundle.engine == LEGACY_ENGINE else {}
    return {
        "estimator": bundle.estimator,
        "classes": list(bundle.classes),
        "features": dict(classic.get("features") or {}),
        "detector": dict(classic.get("detector") or {}),
        "metrics": bundle.metrics,
        "dataset_fingerprint": bundle.dataset_fingerprint,
        "trained_at": bundle.trained_at,
        "versions": bundle.versions,
        "engine": bundle.engine,
        "engine_settings": bundle.engine_settings,
        "training_photos": sorted(bundle.training_photos),
        "gallery": None
        if bundle.gallery is None
        else {
            "vectors": bundle.gallery.vectors,
            "labels": bundle.gallery.labels,
            "threshold": bundle.gallery.threshold,
            "rule": bundle.gallery.rule.as_json(),
        },
    }


def _from_dict(values: dict) -> ModelBundle:
    try:
        return ModelBundle(
            estimator=values["estimator"],
            classes=list(values["classes"]),
            metrics=values.get("metrics", {}),
            dataset_fingerprint=values.get("dataset_fingerprint", ""),
            trained_at=values.get("trained_at", ""),
            versions=values.get("versions", {}),
            engine=values.get("engine", LEGACY_ENGINE),
            engine_settings=_stored_engine_settings(values),
            training_photos=frozenset(values.get("training_photos") or ()),
            gallery=Gallery(**values["gallery"]) if values.get("gallery") else None,
        )
    except (KeyError, TypeError) as exc:
        raise ModelError(f"the model file lacks {exc}; it was made by another version of celeb") from exc


def _stored_engine_settings(values: dict) -> dict:
    """The engine's settings in a stored bundle; in a file made before engines stored theirs, the
    classic engine's, kept under "features" and "detector"."""
    settings = dict(values.get("engine_settings") or {})
    if not settings and values.get("engine", LEGACY_ENGINE) == LEGACY_ENGINE:
        settings = {key: dict(values[key]) for key in ("features", "detector") if values.get(key)}
    return settings


def bundle_from_training(
    result: TrainingResult, engine: Engine, data: TrainingSet, dataset_fingerprint: str = ""
) -> ModelBundle:
    """A bundle of a training result's winner, with the figures to judge it.

    ``data`` is what it was trained on: an open-set engine keeps its faces as
    the gallery that tells unknown people apart, and every bundle keeps the
    hashes of its photos (``data.groups``), held-out ones too: the gallery,
    and an estimator refit on all faces, know them as well.
    """
    return ModelBundle(
        estimator=result.estimator,
        classes=list(result.classes),
        versions=library_versions(engine),
        engine=engine.name,
        engine_settings=engine.settings(),
        gallery=make_gallery(data) if engine.open_set else None,
        metrics={
            "test_accuracy": result.test_accuracy,
            "winner": result.winner,
            "report": result.report,
            "confusion": result.confusion.tolist(),
            "candidates": [vars(c).copy() for c in result.candidates],
            "train_size": result.train_size,
            "test_size": result.test_size,
            "settings": result.settings,
        },
        dataset_fingerprint=dataset_fingerprint,
        training_photos=frozenset(str(photo) for photo in data.groups),
    )
