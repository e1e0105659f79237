"""Name the people in a photo with a trained model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import DECODE_MAX_SIDE, DEFAULT_CONFIDENCE_THRESHOLD, UNCLEAN_EXTRA_CONFIDENCE
from .faces import Box, FaceDetector, crop_face
from .features import face_features
from .images import Photo, read_image
from .model import ModelBundle


@dataclass(frozen=True)
class FacePrediction:
    """One face: where it is, who it is (or None when not sure), how sure.

    ``box`` is in the coordinates of the photo as stored; ``probabilities``
    holds every person, most likely first; ``clean`` is False when two eyes
    were not found, which makes the answer less reliable.
    """

    box: Box
    person: str | None
    probability: float
    probabilities: dict[str, float]
    clean: bool
    crop: np.ndarray

    @property
    def best_guess(self) -> str:
        return next(iter(self.probabilities))

    def as_json(self) -> dict:
        return {
            "box": self.box.as_list(),
            "person": self.person,
            "probability": round(self.probability, 4),
            "probabilities": {name: round(p, 4) for name, p in self.probabilities.items()},
            "clean": self.clean,
        }


@dataclass(frozen=True)
class PhotoPrediction:
    photo: Photo
    faces: list[FacePrediction]


class Classifier:
    """A model bundle ready to classify photos; safe to share between threads.

    ``threshold``: below this top probability a face's person is None; a
    face without two visible eyes needs ``UNCLEAN_EXTRA_CONFIDENCE`` more.
    """

    def __init__(self, bundle: ModelBundle, threshold: float = DEFAULT_CONFIDENCE_THRESHOLD) -> None:
        self.bundle = bundle
        self.threshold = threshold
        self.detector = FaceDetector(bundle.detector)

    def classify(self, source: bytes | str | Path) -> PhotoPrediction:
        """Read a photo (bytes or path) and classify every face in it.

        Raises :class:`celeb.errors.ImageError` for a file that is not a photo.
        """
        photo = read_image(source, max_side=DECODE_MAX_SIDE)
        return PhotoPrediction(photo, self.classify_photo(photo))

    def classify_photo(self, photo: Photo) -> list[FacePrediction]:
        """Every face in a decoded photo, largest first."""
        faces = self.detector.detect(photo.rgb)
        if not faces:
            return []
        settings = self.bundle.features
        crops = [crop_face(photo.rgb, face, settings.crop_size, align=settings.align) for face in faces]
        probabilities = self.bundle.predict_proba(np.stack([face_features(c, settings) for c in crops]))
        return [
            self._prediction(face.box.scaled(photo.scale), face.clean, crop, row)
            for face, crop, row in zip(faces, crops, probabilities, strict=True)
        ]

    def _prediction(self, box: Box, clean: bool, crop: np.ndarray, row: np.ndarray) -> FacePrediction:
        order = np.argsort(row)[::-1]
        ranked = {self.bundle.classes[i]: float(row[i]) for i in order}
        best = float(row[order[0]])
        needed = self.threshold if clean else min(1.0, self.threshold + UNCLEAN_EXTRA_CONFIDENCE)
        person = self.bundle.classes[order[0]] if best >= needed else None
        return FacePrediction(box, person, best, ranked, clean, crop)
