"""Draw face boxes and names on a photo (presentation only, no Streamlit).

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

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .faces import Box

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


def draw_boxes(
    rgb: np.ndarray, labels: Sequence[Label], original_size: tuple[int, int] | None = None
) -> np.ndarray:
    """A copy of ``rgb`` with every label's box and text drawn on it.

    ``original_size`` (width, height) is the size the boxes are measured in;
    by default the array's own size.
    """
    height, width = rgb.shape[:2]
    factor = width / original_size[0] if original_size else 1.0
    image = Image.fromarray(np.ascontiguousarray(rgb[..., :3]).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    line = max(2, round(max(width, height) / 300))
    font = _font(max(12, round(max(width, height) / 45)))
    for label in labels:
        box = label.box.scaled(factor)
        left, top = box.x, box.y
        right, bottom = min(width - 1, box.x + box.w), min(height - 1, box.y + box.h)
        draw.rectangle((left, top, right, bottom), outline=label.color, width=line)
        if not label.text:
            continue
        text_left, text_top, text_right, text_bottom = draw.textbbox((0, 0), label.text, font=font)
        text_w, text_h = text_right - text_left, text_bottom - text_top
        pad = max(2, line)
        # Above the box when there is room, else inside its top edge.
        y = top - text_h - 2 * pad if top - text_h - 2 * pad >= 0 else top
        x = min(max(0, left), max(0, width - text_w - 2 * pad))
        draw.rectangle((x, y, x + text_w + 2 * pad, y + text_h + 2 * pad), fill=label.color)
        draw.text((x + pad - text_left, y + pad - text_top), label.text, fill=(255, 255, 255), font=font)
    return np.asarray(image)


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
