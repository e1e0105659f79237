"""The classic engine's faces: frontal faces, and the eyes in them, found with OpenCV's haar
cascades; and crops with the eyes at fixed places.

A face with two eyes found in its upper half, one on each side, has its
eyes found (``Face.eyes_found``; a *clean* face in the recipe's words):
the rule of the original recipe (made stricter, since the eye cascade also
fires on nostrils and mouths). Faces without two eyes are kept too, marked,
so that classification can still answer on them with a warning.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..config import DETECTION_MAX_SIDE
from ..faces import Box, Face
from ..images import shrink

CASCADE_DIR = Path(cv2.data.haarcascades)
FACE_CASCADE = "haarcascade_frontalface_default.xml"
EYE_CASCADE = "haarcascade_eye.xml"

#: Eyes are looked for on the face resized to this width, so that the eye
#: cascade sees the same scale whatever the photo's resolution.
EYE_SEARCH_WIDTH = 160


@dataclass(frozen=True)
class DetectorSettings:
    """How hard the cascades look. Recorded with every model."""

    max_side: int = DETECTION_MAX_SIDE
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_face_fraction: float = 0.08  # smallest face side, as a share of the photo's shorter side
    min_face_pixels: int = 24
    #: When nothing is found, look once more at a higher resolution, less strictly:
    #: small or soft faces in wide shots. Costs time only on photos without a face.
    retry_max_side: int = 1024
    retry_min_neighbors: int = 4
    retry_min_face_fraction: float = 0.04


class FaceDetector:
    """Detect faces and eyes; safe to share between threads.

    >>> import numpy as np
    >>> FaceDetector().detect(np.zeros((120, 160, 3), np.uint8))
    []
    """

    def __init__(self, settings: DetectorSettings | None = None) -> None:
        self.settings = settings or DetectorSettings()
        self._local = threading.local()

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Every frontal face in an RGB array, largest first."""
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
        s = self.settings
        boxes = self._faces(gray, s.max_side, s.min_neighbors, s.min_face_fraction)
        if not boxes and s.retry_max_side:
            boxes = self._faces(gray, s.retry_max_side, s.retry_min_neighbors, s.retry_min_face_fraction)
        faces = [Face(box, self._eyes(gray, box)) for box in boxes if box.w > 0 and box.h > 0]
        return sorted(faces, key=lambda face: face.box.area, reverse=True)

    def _faces(self, gray: np.ndarray, max_side: int, min_neighbors: int, min_fraction: float) -> list[Box]:
        small, factor = shrink(gray, max_side)
        min_side = max(self.settings.min_face_pixels, round(min(small.shape[:2]) * min_fraction))
        found = self._cascades()[0].detectMultiScale(
            cv2.equalizeHist(small),
            scaleFactor=self.settings.scale_factor,
            minNeighbors=min_neighbors,
            minSize=(min_side, min_side),
        )
        boxes = [Box(*map(int, row)).scaled(1 / factor) for row in np.asarray(found).reshape(-1, 4)]
        return [_clip(box, gray.shape) for box in boxes]

    def _eyes(self, gray: np.ndarray, face: Box) -> tuple[Box, ...]:
        roi = gray[face.y : face.y + face.h, face.x : face.x + face.w]
        factor = EYE_SEARCH_WIDTH / face.w
        roi = cv2.resize(
            roi,
            (EYE_SEARCH_WIDTH, max(1, round(face.h * factor))),
            interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR,
        )
        found = self._cascades()[1].detectMultiScale(
            cv2.equalizeHist(roi), scaleFactor=1.1, minNeighbors=3, minSize=(16, 16)
        )
        candidates = [Box(*map(int, row)) for row in np.asarray(found).reshape(-1, 4)]
        pair = _eye_pair(candidates, EYE_SEARCH_WIDTH, roi.shape[0])
        if pair is None:
            return ()
        return tuple(
            Box(
                face.x + round(eye.x / factor),
                face.y + round(eye.y / factor),
                round(eye.w / factor),
                round(eye.h / factor),
            )
            for eye in pair
        )

    def _cascades(self) -> tuple[cv2.CascadeClassifier, cv2.CascadeClassifier]:
        # CascadeClassifier is not documented as thread-safe: one pair per thread.
        cascades = getattr(self._local, "cascades", None)
        if cascades is None:
            cascades = (_load_cascade(FACE_CASCADE), _load_cascade(EYE_CASCADE))
            self._local.cascades = cascades
        return cascades


def _load_cascade(name: str) -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(str(CASCADE_DIR / name))
    if cascade.empty():
        raise RuntimeError(f"OpenCV could not load its bundled cascade {name} from {CASCADE_DIR}")
    return cascade


def _clip(box: Box, shape: tuple[int, ...]) -> Box:
    """The part of ``box`` inside an image of ``shape`` (width or height 0 if none)."""
    height, width = shape[:2]
    left, top = min(max(0, box.x), width), min(max(0, box.y), height)
    right, bottom = max(left, min(box.x + box.w, width)), max(top, min(box.y + box.h, height))
    return Box(left, top, right - left, bottom - top)


def _eye_pair(candidates: list[Box], width: int, height: int) -> tuple[Box, Box] | None:
    """The most plausible pair of eyes: upper half, one each side, alike in size."""
    upper = [eye for eye in candidates if eye.center[1] < height * 0.6]
    left = [eye for eye in upper if eye.center[0] < width * 0.5]
    right = [eye for eye in upper if eye.center[0] >= width * 0.5]
    best, best_cost = None, float("inf")
    for a in left:
        for b in right:
            size_ratio = max(a.w, b.w) / min(a.w, b.w)
            tilt = abs(a.center[1] - b.center[1]) / width
            gap = (b.center[0] - a.center[0]) / width
            if size_ratio > 1.8 or tilt > 0.2 or not 0.2 <= gap <= 0.75:
                continue
            cost = (size_ratio - 1) + tilt * 4 + abs(gap - 0.4)
            if cost < best_cost:
                best, best_cost = (a, b), cost
    return best


#: Where the eyes land in a face crop, as shares of its side: a tight crop
#: from brows to chin measured best (bench/), since the background and hair
#: around a face say more about the photo than about the person.
EYE_ROW = 0.43
EYE_SPAN = 0.67
#: Where the face cascade's box puts the eyes, as shares of its width.
BOX_EYE_ROW = 0.38
BOX_EYE_SPAN = 0.40


def crop_face(rgb: np.ndarray, face: Face, size: int, *, align: bool = True) -> np.ndarray:
    """A square ``size`` x ``size`` RGB crop of one face, eyes at fixed places.

    With ``align``, a face with its eyes found is rotated and scaled so its eyes sit level
    (the face box of a haar cascade wanders by a tenth of its width from photo
    to photo); other faces are cut from their box where its eyes usually are.
    """
    if align and face.eyes_found:
        (lx, ly), (rx, ry) = (eye.center for eye in face.eyes)
        angle = float(np.degrees(np.arctan2(ry - ly, rx - lx)))
        distance = max(1.0, float(np.hypot(rx - lx, ry - ly)))
        center = ((lx + rx) / 2, (ly + ry) / 2)
    else:
        box = face.box
        angle, distance = 0.0, box.w * BOX_EYE_SPAN
        center = (box.x + box.w / 2, box.y + box.h * BOX_EYE_ROW)
    matrix = cv2.getRotationMatrix2D(center, angle, size * EYE_SPAN / distance)
    matrix[0, 2] += size / 2 - center[0]
    matrix[1, 2] += size * EYE_ROW - center[1]
    return cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
