"""Draw face boxes and names on a photo, and the whole-face images crops are reviewed by
(presentation only, no Streamlit).

Boxes come in the coordinates of the photo as stored (``Photo.original_size``);
the array drawn on may be a reduced copy, so every box is scaled to it.

>>> import numpy as np
>>> from celeb.faces import Box
>>> out = draw_boxes(np.zeros((100, 200, 3), np.uint8), [Label(Box(10, 10, 50, 50), "Ann 90%")])
>>> out.shape, out.dtype.name, int(out[10, 30].sum()) > 0
((100, 200, 3), 'uint8', True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .config import DECODE_MAX_SIDE
from .errors import ImageError
from .faces import Box
from .images import decode_png, read_image

#: Box colours: a confident answer, a doubtful one, and a neutral mark.
SURE = (22, 163, 74)
DOUBT = (234, 138, 0)
PLAIN = (37, 99, 235)


@dataclass(frozen=True)
class Label:
    """One box to draw, with the text written above it."""

    box: Box
    text: str = ""
    color: tuple[int, int, int] = SURE


#: A label rectangle: left, top, right, bottom (right and bottom excluded), in pixels of the array.
Rect = tuple[int, int, int, int]


def draw_boxes(
    rgb: np.ndarray, labels: Sequence[Label], original_size: tuple[int, int] | None = None
) -> np.ndarray:
    """A copy of ``rgb`` with every label's box and text drawn on it.

    ``original_size`` (width, height) is the size the boxes are measured in;
    by default the array's own size. Names never cover each other: see
    :func:`label_rectangles`.
    """
    height, width = rgb.shape[:2]
    image = Image.fromarray(np.ascontiguousarray(rgb[..., :3]).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    line = _line_width(width, height)
    boxes = _scaled_boxes(labels, width, original_size)
    for label, (left, top, right, bottom) in zip(labels, boxes, strict=True):
        draw.rectangle(
            (left, top, min(width - 1, right), min(height - 1, bottom)), outline=label.color, width=line
        )
    size, rects = _layout(labels, boxes, width, height)
    font = _font(size)
    pad = _pad(size, line)
    for label, rect in zip(labels, rects, strict=True):
        if rect is None:
            continue
        text_left, text_top, _, _ = font.getbbox(label.text)
        draw.rectangle((rect[0], rect[1], rect[2] - 1, rect[3] - 1), fill=label.color)
        draw.text(
            (rect[0] + pad - text_left, rect[1] + pad - text_top), label.text, fill=(255, 255, 255), font=font
        )
    return np.asarray(image)


def label_rectangles(
    labels: Sequence[Label], size: tuple[int, int], original_size: tuple[int, int] | None = None
) -> list[Rect | None]:
    """Where :func:`draw_boxes` writes each label's text on an array of ``size`` (width, height).

    None for a label without text. In a group photo the first labels (the
    largest faces) get the best spots; no rectangle covers another one's.
    """
    width, height = size
    boxes = _scaled_boxes(labels, width, original_size)
    return _layout(labels, boxes, width, height)[1]


def _line_width(width: int, height: int) -> int:
    return max(2, round(max(width, height) / 300))


def _pad(size: int, line: int) -> int:
    return max(2, line, size // 8)


def _scaled_boxes(labels: Sequence[Label], width: int, original_size: tuple[int, int] | None) -> list[Rect]:
    """Each label's box in the array's pixels, as (left, top, right, bottom)."""
    factor = width / original_size[0] if original_size else 1.0
    boxes = []
    for label in labels:
        box = label.box.scaled(factor)
        boxes.append((box.x, box.y, box.x + box.w, box.y + box.h))
    return boxes


def _layout(
    labels: Sequence[Label], boxes: list[Rect], width: int, height: int
) -> tuple[int, list[Rect | None]]:
    """The font size and each label's rectangle.

    The font is sized to the photo (readable once the photo is shrunk to the
    page); in a crowded photo where the names cannot all be placed apart at
    that size, it is made smaller, down to a floor that stays readable, and at
    the floor the least-covering spot is taken.
    """
    largest = max(12, round(max(width, height) / 45))
    smallest = max(10, round(max(width, height) / 90))
    size = largest
    while True:
        rects, clear = _place(labels, boxes, width, height, size)
        if clear or size <= smallest:
            return size, rects
        size = max(smallest, round(size * 0.85))


def _place(
    labels: Sequence[Label], boxes: list[Rect], width: int, height: int, size: int
) -> tuple[list[Rect | None], bool]:
    """Each label's rectangle at font ``size``, and whether none covers another."""
    font = _font(size)
    pad = _pad(size, _line_width(width, height))
    placed: list[Rect] = []
    rects: list[Rect | None] = []
    clear = True
    for label, box in zip(labels, boxes, strict=True):
        if not label.text:
            rects.append(None)
            continue
        text_left, text_top, text_right, text_bottom = font.getbbox(label.text)
        w, h = text_right - text_left + 2 * pad, text_bottom - text_top + 2 * pad
        others = [other for other in boxes if other != box]
        best = min(
            _candidates(box, w, h, width, height),
            key=lambda rect: (
                # Covering another name makes both unreadable: worst. Covering another face
                # is bad too; then the nearer to the preferred spot (above the box) the better.
                sum(_overlap(rect, other) for other in placed),
                sum(_overlap(rect, other) for other in others),
                abs(rect[1] - (box[1] - h)) + abs(rect[0] - box[0]) / 4,
            ),
        )
        clear = clear and not any(_overlap(best, other) for other in placed)
        placed.append(best)
        rects.append(best)
    return rects, clear


def _candidates(box: Rect, w: int, h: int, width: int, height: int) -> list[Rect]:
    """Spots for a w x h label near ``box``: above, below, inside, then further up and down.

    Every spot is inside the photo (a label wider than the photo starts at its left edge).
    """
    left, top, right, bottom = box
    xs = {left, right - w, left - w // 2 + (right - left) // 2}
    ys = [top - h, bottom, top, bottom - h]
    ys += [top - h - step * h for step in range(1, 6)] + [bottom + step * h for step in range(1, 6)]
    spots = []
    for y in ys:
        for x in xs:
            x = min(max(0, x), max(0, width - w))
            y_in = min(max(0, y), max(0, height - h))
            spots.append((x, y_in, x + w, y_in + h))
    return list(dict.fromkeys(spots))


def _overlap(a: Rect, b: Rect) -> int:
    """The area two rectangles share (0 when they only touch)."""
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def thumbnail(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """The photo shrunk so its longest side is at most ``max_side`` (never enlarged)."""
    height, width = rgb.shape[:2]
    if max(height, width) <= max_side:
        return rgb
    image = Image.fromarray(rgb)
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return np.asarray(image)


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    for name in ("DejaVuSans-Bold.ttf", "DejaVuSans.ttf", "Arial.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without a scalable default font
        return ImageFont.load_default()


# ---------------------------------------------------------------- review images

#: Side of the square image of a face shown for review, and the margin around the face box
#: (a share of its width and height, each side): the whole face with some hair and chin.
REVIEW_SIZE = 160
REVIEW_MARGIN = 0.4


def face_view(
    rgb: np.ndarray, box: Sequence[float], size: int = REVIEW_SIZE, margin: float = REVIEW_MARGIN
) -> np.ndarray:
    """A ``size`` x ``size`` image of the face at ``box`` (x, y, w, h in ``rgb``) with ``margin``.

    The square around the face is moved, not cut, where it would leave the
    photo; only a photo smaller than the square cuts it (then it is stretched
    to a square no more than the photo allows: the face stays whole).

    >>> view = face_view(np.zeros((400, 300, 3), np.uint8), (0, 10, 50, 60), size=96)
    >>> view.shape
    (96, 96, 3)
    """
    height, width = rgb.shape[:2]
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1 + 2 * margin)
    side_x, side_y = min(side, width), min(side, height)
    left = min(max(x + w / 2 - side_x / 2, 0.0), width - side_x)
    top = min(max(y + h / 2 - side_y / 2, 0.0), height - side_y)
    x0, y0 = round(left), round(top)
    x1, y1 = max(x0 + 1, min(width, round(left + side_x))), max(y0 + 1, min(height, round(top + side_y)))
    region = rgb[y0:y1, x0:x1]
    shrink = max(region.shape[:2]) > size
    return cv2.resize(region, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def review_image(
    photo_path: Path, box: Sequence[float], crop_path: Path, size: int = REVIEW_SIZE
) -> np.ndarray:
    """What a person reviews a crop by: its whole face (:func:`face_view`) from the source photo,
    read at a reduced size; the crop file itself when the photo is gone or unreadable.

    The crop file stays what the engine computes features from; this is only for eyes.
    DatasetError when neither can be read.
    """
    try:
        photo = read_image(photo_path, max_side=DECODE_MAX_SIDE)
    except ImageError:
        return decode_png(crop_path)
    return face_view(photo.rgb, [v / photo.scale for v in box], size)
