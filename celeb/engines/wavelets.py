"""The classic engine's features: a face crop as the feature vector of the recipe.

32x32 colour pixels stacked with a 32x32 wavelet image: ``pywt.wavedec2``
(db1, level 5) with the approximation zeroed keeps the edges (eyes, brows,
mouth) and drops the lighting.

>>> import numpy as np
>>> vector = face_features(np.full((64, 64, 3), 128, np.uint8))
>>> vector.shape, vector.dtype.name
((4096,), 'float32')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
import pywt


@dataclass(frozen=True)
class FeatureSettings:
    """Everything that decides a face's feature vector; saved with each model."""

    size: int = 32
    wavelet: str = "db1"
    level: int = 5
    crop_size: int = 128  # side of the stored face crop the features are made from
    align: bool = True  # rotate faces with eyes found so the eyes sit level (see haar.crop_face)
    equalize: bool = False  # histogram-equalise the crop's luminance first

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> FeatureSettings:
        known = {key: value for key, value in values.items() if key in cls.__dataclass_fields__}
        return cls(**known)

    @property
    def length(self) -> int:
        return self.size * self.size * 4


def face_features(crop: np.ndarray, settings: FeatureSettings | None = None) -> np.ndarray:
    """The feature vector of one RGB face crop (any size), as float32 in 0..1."""
    settings = settings or FeatureSettings()
    if settings.equalize:
        crop = _equalize(crop)
    small = cv2.resize(crop, (settings.size, settings.size), interpolation=cv2.INTER_AREA)
    edges = wavelet_image(crop, settings.wavelet, settings.level)
    edges = cv2.resize(edges, (settings.size, settings.size), interpolation=cv2.INTER_AREA)
    return np.concatenate([small.reshape(-1), edges.reshape(-1)]).astype(np.float32) / 255.0


def wavelet_image(rgb: np.ndarray, wavelet: str = "db1", level: int = 5) -> np.ndarray:
    """The detail part of a wavelet transform of the gray image, as uint8.

    The recipe casts negative details to uint8, which wraps them around; the
    magnitude is what it means, without the platform-dependent cast.
    """
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    level = min(level, pywt.dwt_max_level(min(gray.shape), pywt.Wavelet(wavelet).dec_len))
    coefficients = pywt.wavedec2(gray, wavelet, level=max(level, 1))
    coefficients[0] = np.zeros_like(coefficients[0])
    details = pywt.waverec2(coefficients, wavelet)[: gray.shape[0], : gray.shape[1]]
    return np.clip(np.abs(details) * 255.0, 0, 255).astype(np.uint8)


def _equalize(rgb: np.ndarray) -> np.ndarray:
    ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    ycrcb[..., 0] = cv2.equalizeHist(ycrcb[..., 0])
    return cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB)
