"""The classic engine, the recipe this project grew from: haar cascades and the two-eye rule,
eye-aligned crops (haar.py), raw pixels stacked with a wavelet image (wavelets.py)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pywt

from ..faces import Face
from .base import Engine
from .haar import DetectorSettings, FaceDetector, crop_face
from .wavelets import FeatureSettings, face_features


class ClassicEngine(Engine):
    """Haar cascades + two-eye rule + raw pixels and wavelets.

    >>> engine = ClassicEngine()
    >>> engine.name, engine.feature_length
    ('classic', 4096)
    """

    name = "classic"
    mirror = True
    faces_kept_as = " with both eyes"
    needs = "a clear, frontal face with both eyes visible, not too small in the photo"

    def __init__(
        self,
        features: FeatureSettings | dict | None = None,
        detector: DetectorSettings | dict | None = None,
    ) -> None:
        if isinstance(features, dict):
            features = FeatureSettings.from_dict(features)
        if isinstance(detector, dict):
            detector = DetectorSettings(**detector)
        self.feature_settings = features or FeatureSettings()
        self.detector_settings = detector or DetectorSettings()
        self._detector = FaceDetector(self.detector_settings)

    @classmethod
    def library_versions(cls) -> dict[str, str]:
        return {"opencv": cv2.__version__, "pywavelets": pywt.__version__}

    def detect(self, rgb: np.ndarray) -> list[Face]:
        return self._detector.detect(rgb)

    def crop(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        settings = self.feature_settings
        return crop_face(rgb, face, settings.crop_size, align=settings.align)

    def features(self, crop: np.ndarray) -> np.ndarray:
        return face_features(crop, self.feature_settings)

    def settings(self) -> dict[str, Any]:
        return {"features": self.feature_settings.as_dict(), "detector": vars(self.detector_settings).copy()}

    def feature_key(self) -> dict[str, Any]:
        # The feature settings alone, as before engines were registered: existing caches stay valid.
        return self.feature_settings.as_dict()

    @property
    def feature_length(self) -> int:
        return self.feature_settings.length
