"""The original recipe, re-implemented faithfully, as the benchmark's baseline.

codebasics/py, DataScience/CelebrityFaceRecognition (the notebook and
``server/util.py``):

* ``cv2.imread`` (BGR) at full resolution, then gray;
* ``face_cascade.detectMultiScale(gray, 1.3, 5)`` with
  ``haarcascade_frontalface_default.xml``;
* for each face, ``eye_cascade.detectMultiScale(roi_gray)`` with
  ``haarcascade_eye.xml`` and its defaults; the colour crop
  ``img[y:y+h, x:x+w]`` is kept when at least two eyes are found;
* features: ``cv2.resize(crop, (32, 32))`` (raw BGR, 3072 values) stacked
  with ``w2d(crop, 'db1', 5)`` resized to 32x32 (1024 values);
* model: ``make_pipeline(StandardScaler(), SVC(kernel='rbf', C=10, gamma='auto'))``.

Two deliberate, documented differences:

* ``w2d`` ends with ``np.uint8(imArray_H)`` on floats that are often
  negative or above 255. That cast is undefined in C and numpy 2 gives
  platform- and SIMD-dependent results; here the value is truncated toward
  zero and wrapped modulo 256 (``np.mod(np.trunc(x), 256)``), which is what
  the plain scalar cast does on x86 and what the recipe's figures were
  measured with.
* ``SVC(probability=True)`` is deprecated in scikit-learn 1.9; the recipe's
  answer is ``predict`` (the class), so no probabilities are computed.

Like the original, ``w2d`` converts the BGR crop with ``COLOR_RGB2GRAY``
(red and blue weights swapped): kept as is, it is part of the recipe.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pywt
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

CASCADE_DIR = Path(cv2.data.haarcascades)
FEATURE_LENGTH = 32 * 32 * 3 + 32 * 32


class Recipe:
    """The recipe's detector: full-resolution haar faces, two eyes or nothing."""

    def __init__(self) -> None:
        self.face_cascade = cv2.CascadeClassifier(str(CASCADE_DIR / "haarcascade_frontalface_default.xml"))
        self.eye_cascade = cv2.CascadeClassifier(str(CASCADE_DIR / "haarcascade_eye.xml"))
        if self.face_cascade.empty() or self.eye_cascade.empty():
            raise RuntimeError(f"OpenCV could not load its bundled cascades from {CASCADE_DIR}")

    def clean_faces(self, img: np.ndarray) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
        """Every face with at least two eyes, as (box, colour crop), in cascade order."""
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        faces = self.face_cascade.detectMultiScale(gray, 1.3, 5)
        kept = []
        for x, y, w, h in np.asarray(faces).reshape(-1, 4):
            roi_gray = gray[y : y + h, x : x + w]
            eyes = self.eye_cascade.detectMultiScale(roi_gray)
            if len(eyes) >= 2:
                kept.append(((int(x), int(y), int(w), int(h)), img[y : y + h, x : x + w]))
        return kept

    def crops_of_file(self, path: str | Path) -> list[np.ndarray]:
        """The clean face crops of a photo file ([] when OpenCV cannot read it)."""
        img = cv2.imread(str(path))
        if img is None:
            return []
        return [crop for _, crop in self.clean_faces(img)]

    def classify_file(self, model: Pipeline, path: str | Path) -> list[str]:
        """The recipe end to end: the predicted person of every clean face."""
        crops = self.crops_of_file(path)
        if not crops:
            return []
        return [str(label) for label in model.predict(np.stack([features(crop) for crop in crops]))]


def w2d(img: np.ndarray, mode: str = "haar", level: int = 1) -> np.ndarray:
    """The recipe's wavelet image: detail coefficients only, as uint8."""
    im_array = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)  # sic: the crop is BGR
    im_array = np.float32(im_array)
    im_array /= 255
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "level too high" for crops under 32 px
        coeffs = pywt.wavedec2(im_array, mode, level=level)
        coeffs_h = list(coeffs)
        coeffs_h[0] *= 0
        im_array_h = pywt.waverec2(coeffs_h, mode)
    im_array_h *= 255
    # np.uint8(im_array_h) in the original: truncate toward zero, wrap modulo 256.
    return np.mod(np.trunc(im_array_h), 256).astype(np.uint8)


def features(crop: np.ndarray) -> np.ndarray:
    """The recipe's 4096 features of one BGR face crop, as float."""
    scalled_raw_img = cv2.resize(crop, (32, 32))
    img_har = w2d(crop, "db1", 5)
    scalled_img_har = cv2.resize(img_har, (32, 32))
    combined = np.vstack((scalled_raw_img.reshape(32 * 32 * 3, 1), scalled_img_har.reshape(32 * 32, 1)))
    return combined.reshape(-1).astype(float)


def make_model() -> Pipeline:
    """The recipe's winning model (its probability=True dropped, see above)."""
    return make_pipeline(StandardScaler(), SVC(kernel="rbf", C=10, gamma="auto"))
