"""Faces, the words every part of the library shares: a face found in a photo, and faces as rows
of numbers to train on. No OpenCV, no engine: each engine (``celeb.engines``) finds :class:`Face`
objects its own way and turns their crops into the rows of a :class:`TrainingSet`.

>>> face = Face(Box(10, 20, 40, 40), eyes=(Box(18, 30, 8, 6), Box(34, 30, 8, 6)))
>>> face.eyes_found, face.scaled(0.5).box
(True, Box(x=5, y=10, w=20, h=20))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle in pixels: left, top, width, height."""

    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h

    @property
    def side(self) -> int:
        """The longer side: a face's size, also where the photo's edge cuts its box on one side."""
        return max(self.w, self.h)

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h / 2)

    def scaled(self, factor: float) -> Box:
        return Box(
            round(self.x * factor), round(self.y * factor), round(self.w * factor), round(self.h * factor)
        )

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]

    def iou(self, other: Box) -> float:
        left, top = max(self.x, other.x), max(self.y, other.y)
        right = min(self.x + self.w, other.x + other.w)
        bottom = min(self.y + self.h, other.y + other.h)
        inter = max(0, right - left) * max(0, bottom - top)
        union = self.area + other.area - inter
        return inter / union if union else 0.0


@dataclass(frozen=True)
class Face:
    """A face found in a photo, in the coordinates of the array searched.

    ``eyes`` holds the (left, right) eye boxes where the engine found both eyes, else is empty.
    """

    box: Box
    eyes: tuple[Box, ...] = ()

    @property
    def eyes_found(self) -> bool:
        """Whether both eyes were found: by the classic engine's eye cascade, one on each side of
        the face's upper half (its two-eye rule; it finds faces without too), or by the embeddings
        engine's landmarks, which place both on every face its detector gives (the points its crop
        is aligned by). Only such faces are cropped for training (a dataset's ``clean`` crops);
        others need more probability to be named, and are cut from their box unaligned."""
        return len(self.eyes) == 2

    def scaled(self, factor: float) -> Face:
        return Face(self.box.scaled(factor), tuple(eye.scaled(factor) for eye in self.eyes))


@dataclass(frozen=True)
class TrainingSet:
    """Feature rows with their person, their photo and whether they are copies.

    ``groups`` names each row's source photo: rows of one photo never sit on
    both sides of a split. ``is_copy`` marks augmented rows (mirrored faces),
    which are used for fitting only, never for scoring.
    """

    features: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    is_copy: np.ndarray

    def __post_init__(self) -> None:
        count = len(self.features)
        if not (len(self.labels) == len(self.groups) == len(self.is_copy) == count):
            raise ValueError("features, labels, groups and is_copy must have the same length")

    def subset(self, mask: np.ndarray) -> TrainingSet:
        return TrainingSet(self.features[mask], self.labels[mask], self.groups[mask], self.is_copy[mask])

    @property
    def originals(self) -> TrainingSet:
        return self.subset(~self.is_copy)
