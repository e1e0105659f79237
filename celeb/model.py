"""A trained model as a file: the estimator plus what is needed to trust it.

Bundles are written with joblib (atomically) and only ever loaded from the
``models/`` folder or a path the operator names: joblib files can run code
when loaded, so a file uploaded through the browser is never unpickled.
"""

from __future__ import annotations

import io
import platform
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import sklearn
from sklearn.metrics.pairwise import euclidean_distances

from .engines import LEGACY_ENGINE, Engine, get_engine
from .errors import ModelError
from .faces import DetectorSettings
from .features import FeatureSettings
from .storage import utc_timestamp, write_atomic
from .train import TrainingResult, TrainingSet
from .versions import other_version_note

#: The distance beyond which dlib's own docs call two faces different people:
#: an upper bound for the calibrated threshold.
MAX_DISTANCE_THRESHOLD = 0.6

BUNDLE_FORMAT = 1


@dataclass
class Gallery:
    """The training faces' feature vectors: a face far from all of them is an unknown person.

    ``threshold`` is calibrated on the training faces themselves (see
    :func:`make_gallery`) and can be overridden when classifying.
    """

    vectors: np.ndarray  # (n, d) float32
    labels: list[str]
    threshold: float

    def nearest(self, vectors: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """For each row of ``vectors``: the distance to the nearest training face, and its person."""
        distances = euclidean_distances(vectors, self.vectors)
        index = distances.argmin(axis=1)
        return distances[np.arange(len(vectors)), index], [self.labels[i] for i in index]

    def nearest_per_person(self, vectors: np.ndarray) -> list[dict[str, float]]:
        """For each row of ``vectors``: every person's nearest training face distance, nearest first.

        >>> gallery = Gallery(np.eye(3, dtype=np.float32), np.asarray(["a", "b", "b"]), 0.5)
        >>> {name: round(d, 3) for name, d in gallery.nearest_per_person(np.eye(3)[1:2])[0].items()}
        {'b': 0.0, 'a': 1.414}
        """
        distances = euclidean_distances(vectors, self.vectors)
        labels = np.asarray(self.labels)
        columns = {person: labels == person for person in sorted(set(labels.tolist()))}
        rows = []
        for row in distances:
            nearest = {person: float(row[mask].min()) for person, mask in columns.items()}
            rows.append(dict(sorted(nearest.items(), key=lambda item: item[1])))
        return rows


def make_gallery(data: TrainingSet, quantile: float = 0.99) -> Gallery:
    """A gallery of ``data``'s original faces with a calibrated distance threshold.

    For every face, its distance to the nearest face of the same person in
    another photo is how far a known person can be from the gallery; the
    threshold sits at ``quantile`` of those distances (at most
    MAX_DISTANCE_THRESHOLD, dlib's own same-person limit), so that about 99%
    of known faces stay named. (0.975 left 0.93-0.95 of known people's test
    photos named on the shared set; 0.99 keeps 0.96-0.99 and still calls
    0.87-0.90 of strangers unknown: bench/embeddings.py.)
    """
    originals = data.originals
    vectors = originals.features.astype(np.float32)
    distances = euclidean_distances(vectors)
    same_person = originals.labels[:, None] == originals.labels[None, :]
    other_photo = originals.groups[:, None] != originals.groups[None, :]
    genuine = np.where(same_person & other_photo, distances, np.inf).min(axis=1)
    genuine = genuine[np.isfinite(genuine)]
    threshold = float(np.quantile(genuine, quantile)) if len(genuine) else MAX_DISTANCE_THRESHOLD
    labels = [str(label) for label in originals.labels]
    return Gallery(vectors, labels, min(threshold, MAX_DISTANCE_THRESHOLD))


@dataclass
class ModelBundle:
    """A fitted estimator with its classes, settings and figures."""

    estimator: object
    classes: list[str]
    features: FeatureSettings = field(default_factory=FeatureSettings)
    detector: DetectorSettings = field(default_factory=DetectorSettings)
    metrics: dict = field(default_factory=dict)  # test accuracy, report, confusion, candidates
    dataset_fingerprint: str = ""
    trained_at: str = field(default_factory=utc_timestamp)
    versions: dict = field(default_factory=lambda: library_versions())
    engine: str = LEGACY_ENGINE
    gallery: Gallery | None = None  # open-set engines: the training faces, for "unknown person"
    #: The engine's own settings (``Engine.settings()``), whatever the engine; empty in files made
    #: before engines stored them (then ``features`` and ``detector`` are the classic engine's).
    engine_settings: dict = field(default_factory=dict)
    #: The sha256 (``celeb.dataset.content_hash``) of every photo its training faces came from, so
    #: that an evaluation can tell when it is shown photos it learnt from; empty in older files.
    training_photos: frozenset[str] = frozenset()

    def make_engine(self) -> Engine:
        """The engine this model was trained with, with its settings; EngineUnavailable when its
        packages are not installed."""
        settings = self.engine_settings
        if not settings and self.engine == LEGACY_ENGINE:
            settings = {"features": self.features.as_dict(), "detector": vars(self.detector).copy()}
        return get_engine(self.engine, settings)

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


def library_versions() -> dict:
    import cv2
    import pywt

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "pywavelets": pywt.__version__,
        "joblib": joblib.__version__,
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
        or stored.get("format") != BUNDLE_FORMAT
        or not isinstance(stored.get("bundle"), dict)
    ):
        raise ModelError(f"{path.name} is not a celeb model file (format {BUNDLE_FORMAT})")
    bundle = _from_dict(stored["bundle"])
    made_with = bundle.versions.get("scikit-learn")
    # scikit-learn's own warning catches an estimator pickled by another version than recorded.
    pickled_elsewhere = any("InconsistentVersion" in str(w.category) for w in caught)
    note = other_version_note(path.name, made_with, pickled_elsewhere=pickled_elsewhere)
    if note:
        warnings.warn(note, UserWarning, stacklevel=2)
    return bundle


def _as_dict(bundle: ModelBundle) -> dict:
    return {
        "estimator": bundle.estimator,
        "classes": list(bundle.classes),
        "features": bundle.features.as_dict(),
        "detector": vars(bundle.detector).copy(),
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
        },
    }


def _from_dict(values: dict) -> ModelBundle:
    try:
        return ModelBundle(
            estimator=values["estimator"],
            classes=list(values["classes"]),
            features=FeatureSettings.from_dict(values["features"]),
            detector=DetectorSettings(**values["detector"]),
            metrics=values.get("metrics", {}),
            dataset_fingerprint=values.get("dataset_fingerprint", ""),
            trained_at=values.get("trained_at", ""),
            versions=values.get("versions", {}),
            engine=values.get("engine", LEGACY_ENGINE),
            engine_settings=dict(values.get("engine_settings") or {}),
            training_photos=frozenset(values.get("training_photos") or ()),
            gallery=Gallery(**values["gallery"]) if values.get("gallery") else None,
        )
    except (KeyError, TypeError) as exc:
        raise ModelError(f"the model file lacks {exc}; it was made by another version of celeb") from exc


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
        features=getattr(engine, "feature_settings", FeatureSettings()),
        detector=getattr(engine, "detector_settings", DetectorSettings()),
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
