"""Name the people in a photo with a trained model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .config import DECODE_MAX_SIDE, DEFAULT_CONFIDENCE_THRESHOLD, TOP_CANDIDATES, UNCLEAN_EXTRA_CONFIDENCE
from .faces import Box, Face
from .feature_cache import crop_vectors
from .images import Photo, read_image
from .open_set import OpenSetRule, crowd_faces, name_once_per_photo

if TYPE_CHECKING:  # a Classifier is given a loaded model: the pages import this module before one is
    from .engines import Engine
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
    #: Why the face got no name ("" when it got one), in words for the user.
    why: str = ""
    #: Open-set engines: how near a person this face had to be to be named (the rule's distance,
    #: less for a small face behind the photo's main ones).
    limit: float | None = None

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
        """The face as ``classify --json`` prints it: its best TOP_CANDIDATES people only."""
        top = list(self.probabilities.items())[:TOP_CANDIDATES]
        record = {
            "box": self.box.as_list(),
            "person": self.person,
            # An unknown face was judged by its distances: a probability beside it would read as
            # a confident answer (the classifier's probabilities are still listed).
            "probability": None if self.unknown else round(self.probability, 4),
            "probabilities": {name: round(p, 4) for name, p in top},
            "clean": self.clean,
        }
        if self.distance is not None:
            record["distance"] = round(self.distance, 4)
        if self.distances is not None:
            nearest = list(self.distances.items())[:TOP_CANDIDATES]
            record["distances"] = {name: round(d, 4) for name, d in nearest}
        if self.why:
            record["why"] = self.why
        return record


def needed_probability(threshold: float, clean: bool) -> float:
    """The probability a face needs to be named: a face without two visible eyes needs more.

    >>> needed_probability(0.4, True), round(needed_probability(0.4, False), 2)
    (0.4, 0.6)
    >>> needed_probability(0.9, False)
    1.0
    """
    return threshold if clean else min(1.0, threshold + UNCLEAN_EXTRA_CONFIDENCE)


def probable_person(odds: dict[str, float], clean: bool, threshold: float) -> str | None:
    """The most probable person of ``odds`` (most probable first), if probable enough to name.

    >>> probable_person({"Ada": 0.55, "Bo": 0.45}, True, 0.5), probable_person({"Ada": 0.55}, False, 0.5)
    ('Ada', None)
    """
    person, probability = next(iter(odds.items()))
    return person if probability >= needed_probability(threshold, clean) else None


@dataclass(frozen=True)
class PhotoPrediction:
    """A photo classified: the photo as decoded, and its faces, largest first."""

    photo: Photo
    faces: list[FacePrediction]


@dataclass(frozen=True)
class DescribedFace:
    """A face an engine found in a decoded photo: where (the decoded photo's coordinates), its
    crop and its feature vector (None when only cropped); ``views``, when asked for, the crop's
    vectors as the feature cache keeps them (:func:`celeb.feature_cache.crop_vectors`: the crop's,
    then its mirror image's for an engine that trains on mirrored copies)."""

    face: Face
    crop: np.ndarray
    features: np.ndarray | None
    views: np.ndarray | None = field(default=None, repr=False, compare=False)


def describe_faces(
    engine: Engine,
    rgb: np.ndarray,
    faces: Sequence[Face] | None = None,
    *,
    mirrored: bool = False,
    crops_only: bool = False,
) -> list[DescribedFace]:
    """Faces of a decoded photo, each cropped and described: the one path from a photo to its faces'
    feature vectors (classifying, Find faces, the benchmarks).

    ``faces``: those to describe (default: every face ``engine`` finds, largest first); a caller
    that keeps some only (the clean ones, the largest) detects them first with ``engine.detect``.
    ``mirrored``: also each crop's :attr:`~DescribedFace.views`, as training uses them.
    ``crops_only``: cropped, not described (Find faces with an engine that describes its crops when
    training).
    """
    if faces is None:
        faces = engine.detect(rgb)
    described = []
    for face in faces:
        crop = engine.crop(rgb, face)
        if crops_only:
            described.append(DescribedFace(face, crop, None))
        elif mirrored:
            views = crop_vectors(engine, crop)
            described.append(DescribedFace(face, crop, views[0], views))
        else:
            described.append(DescribedFace(face, crop, engine.features(crop)))
    return described


class Classifier:
    """A model bundle ready to classify photos with the bundle's engine; safe to share between threads.

    Open-set engines (embeddings): the model's rule (:class:`celeb.open_set.OpenSetRule`) names
    a face or calls it unknown, at the model's saved strictness unless ``strictness`` or a
    hand-set ``distance_threshold`` says otherwise. Classic engine: below ``threshold`` top
    probability a face's person is None; a face without two visible eyes needs
    ``UNCLEAN_EXTRA_CONFIDENCE`` more. Either way a person is named on one face of a photo at most.
    Raises :class:`celeb.engines.EngineUnavailable` when the bundle's engine is not installed.
    """

    def __init__(
        self,
        bundle: ModelBundle,
        threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
        distance_threshold: float | None = None,
        strictness: str | None = None,
    ) -> None:
        self.bundle = bundle
        self.threshold = threshold
        self.engine = bundle.make_engine()
        self.rule = rule_for(bundle, strictness, distance_threshold)

    @property
    def distance_threshold(self) -> float | None:
        """Within this distance of a person's training faces a face may be named (open set)."""
        return None if self.rule is None else self.rule.max_distance

    def classify(self, source: bytes | str | Path) -> PhotoPrediction:
        """Read a photo (bytes or path) and classify every face in it.

        Raises :class:`celeb.errors.ImageError` for a file that is not a photo.
        """
        photo = read_image(source, max_side=DECODE_MAX_SIDE)
        return PhotoPrediction(photo, self.classify_photo(photo))

    def classify_photo(self, photo: Photo) -> list[FacePrediction]:
        """Every face in a decoded photo, largest first."""
        return self.name_faces(describe_faces(self.engine, photo.rgb), photo.scale)

    def name_faces(self, described: list[DescribedFace], scale: float = 1.0) -> list[FacePrediction]:
        """Who each of one photo's faces is (boxes multiplied by ``scale``, to the photo as stored)."""
        if not described:
            return []
        features = np.stack([one.features for one in described])
        probabilities = self.bundle.predict_proba(features)
        ranked = [
            {self.bundle.classes[i]: float(row[i]) for i in np.argsort(row)[::-1]} for row in probabilities
        ]
        gallery = self.bundle.gallery
        if gallery is not None and self.rule is not None:
            per_person = gallery.nearest_per_person(features)
            crowd = crowd_faces([one.face.box.side for one in described])
            names = self.rule.name_faces(per_person, crowd)
            return [
                FacePrediction(
                    one.face.box.scaled(scale),
                    name,
                    probability=odds[name] if name else next(iter(odds.values())),
                    probabilities=odds,
                    clean=one.face.eyes_found,
                    crop=one.crop,
                    distance=next(iter(distances.values())),
                    distances=distances,
                    features=one.features,
                    why=self.rule.why_unknown(distances, name, behind),
                    limit=self.rule.distance_for(behind),
                )
                for one, odds, distances, name, behind in zip(
                    described, ranked, per_person, names, crowd, strict=True
                )
            ]
        best = [
            (probable_person(odds, one.face.eyes_found, self.threshold), next(iter(odds.values())))
            for one, odds in zip(described, ranked, strict=True)
        ]
        names = name_once_per_photo(best)
        return [
            FacePrediction(
                one.face.box.scaled(scale),
                name,
                probability=next(iter(odds.values())),
                probabilities=odds,
                clean=one.face.eyes_found,
                crop=one.crop,
                why="" if name else self._why_not_named(person, probability, one.face.eyes_found),
            )
            for one, odds, name, (person, probability) in zip(described, ranked, names, best, strict=True)
        ]

    def _why_not_named(self, person: str | None, probability: float, clean: bool) -> str:
        if person is not None:
            return f"{person} is named on another face of this photo, more probably them"
        needed = needed_probability(self.threshold, clean)
        return f"{probability:.0%}, below the {needed:.0%} needed to name someone"


def rule_for(
    bundle: ModelBundle, strictness: str | None = None, distance: float | None = None
) -> OpenSetRule | None:
    """The model's open-set rule at ``strictness`` (default: the one saved with it), with its
    distance set by hand where ``distance`` is given; None for a model that names by probability."""
    if bundle.gallery is None:
        return None
    rule = bundle.gallery.rule
    if strictness is not None:
        rule = rule.with_strictness(strictness)
    if distance is not None:
        rule = rule.with_max_distance(distance)
    return rule
