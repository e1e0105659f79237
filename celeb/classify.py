"""Name the people in a photo with a trained model."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .config import DECODE_MAX_SIDE, DEFAULT_CONFIDENCE_THRESHOLD, UNCLEAN_EXTRA_CONFIDENCE
from .faces import Box
from .images import Photo, read_image

if TYPE_CHECKING:  # a Classifier is given a loaded model: the pages import this module before one is
    from .model import ModelBundle


@dataclass(frozen=True)
class FacePrediction:
    """One face: where it is, who it is (or None when not sure), how sure.

    ``box`` is in the coordinates of the photo as stored; ``probabilities``
    holds every person, most likely first; ``clean`` is False when two eyes
    were not found, which makes the answer less reliable. ``distance`` (open-set
    engines only) is how far the face is from the nearest training face:
    beyond the model's threshold the person is None, an unknown person; then
    ``distances`` (every person's nearest training face, nearest first), not
    the probabilities, is what decided the answer. ``features`` (open-set
    engines only) is the face's embedding, the engine's feature vector, for
    grouping unknown faces (``celeb.strangers``); it is not in ``as_json``.
    """

    box: Box
    person: str | None
    probability: float
    probabilities: dict[str, float]
    clean: bool
    crop: np.ndarray
    distance: float | None = None
    distances: dict[str, float] | None = None
    features: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def best_guess(self) -> str:
        """The most probable person; for an unknown person, the one with the nearest face."""
        if self.unknown and self.distances:
            return next(iter(self.distances))
        return next(iter(self.probabilities))

    @property
    def unknown(self) -> bool:
        """Too far from every known person (open-set engines), rather than merely not sure."""
        return self.person is None and self.distance is not None

    def as_json(self) -> dict:
        record = {
            "box": self.box.as_list(),
            "person": self.person,
            "probability": round(self.probability, 4),
            "probabilities": {name: round(p, 4) for name, p in self.probabilities.items()},
            "clean": self.clean,
        }
        if self.distance is not None:
            record["distance"] = round(self.distance, 4)
        if self.distances is not None:
            record["distances"] = {name: round(d, 4) for name, d in self.distances.items()}
        return record


def needed_probability(threshold: float, clean: bool) -> float:
    """The probability a face needs to be named: a face without two visible eyes needs more.

    >>> needed_probability(0.4, True), round(needed_probability(0.4, False), 2)
    (0.4, 0.6)
    >>> needed_probability(0.9, False)
    1.0
    """
    return threshold if clean else min(1.0, threshold + UNCLEAN_EXTRA_CONFIDENCE)


@dataclass(frozen=True)
class PhotoPrediction:
    photo: Photo
    faces: list[FacePrediction]


class Classifier:
    """A model bundle ready to classify photos with the bundle's engine; safe to share between threads.

    Classic engine: below ``threshold`` top probability a face's person is
    None; a face without two visible eyes needs ``UNCLEAN_EXTRA_CONFIDENCE``
    more. Open-set engines (embeddings): a face farther than
    ``distance_threshold`` (default: the model's calibrated one) from every
    training face is an unknown person (None).
    Raises :class:`celeb.engines.EngineUnavailable` when the bundle's engine is not installed.
    """

    def __init__(
        self,
        bundle: ModelBundle,
        threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
        distance_threshold: float | None = None,
    ) -> None:
        self.bundle = bundle
        self.threshold = threshold
        self.engine = bundle.make_engine()
        gallery = bundle.gallery
        self.distance_threshold = (
            distance_threshold if distance_threshold is not None else (gallery.threshold if gallery else None)
        )

    def classify(self, source: bytes | str | Path) -> PhotoPrediction:
        """Read a photo (bytes or path) and classify every face in it.

        Raises :class:`celeb.errors.ImageError` for a file that is not a photo.
        """
        photo = read_image(source, max_side=DECODE_MAX_SIDE)
        return PhotoPrediction(photo, self.classify_photo(photo))

    def classify_photo(self, photo: Photo) -> list[FacePrediction]:
        """Every face in a decoded photo, largest first."""
        faces = self.engine.detect(photo.rgb)
        if not faces:
            return []
        crops = [self.engine.crop(photo.rgb, face) for face in faces]
        features = np.stack([self.engine.features(crop) for crop in crops])
        probabilities = self.bundle.predict_proba(features)
        gallery = self.bundle.gallery
        open_set = gallery is not None  # an embeddings model: its vectors are worth grouping
        per_person = gallery.nearest_per_person(features) if gallery is not None else [None] * len(faces)
        return [
            self._prediction(
                face.box.scaled(photo.scale), face.clean, crop, row, distances, vector if open_set else None
            )
            for face, crop, row, distances, vector in zip(
                faces, crops, probabilities, per_person, features, strict=True
            )
        ]

    def _prediction(
        self,
        box: Box,
        clean: bool,
        crop: np.ndarray,
        row: np.ndarray,
        distances: dict[str, float] | None = None,
        features: np.ndarray | None = None,
    ) -> FacePrediction:
        distance = min(distances.values()) if distances else None
        order = np.argsort(row)[::-1]
        ranked = {self.bundle.classes[i]: float(row[i]) for i in order}
        best = float(row[order[0]])
        if distance is not None and self.distance_threshold is not None:
            known = distance <= self.distance_threshold
        else:
            known = best >= needed_probability(self.threshold, clean)
        person = self.bundle.classes[order[0]] if known else None
        return FacePrediction(box, person, best, ranked, clean, crop, distance, distances, features)
