"""Fast checks of bench/recipe.py, the benchmark's re-implementation of the original recipe."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from skimage import data as skdata

from bench import recipe


def test_features_have_the_recipe_length_and_are_deterministic():
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (70, 61, 3), dtype=np.uint8)  # odd sizes, as face boxes can be
    vector = recipe.features(crop)
    assert vector.shape == (recipe.FEATURE_LENGTH,) == (4096,)
    assert np.array_equal(vector, recipe.features(crop.copy()))
    # The first 3072 values are the 32x32 BGR pixels, as the recipe stacks them.
    assert np.array_equal(vector[:3072], cv2.resize(crop, (32, 32)).reshape(-1))


def test_w2d_wraps_like_the_uint8_cast_and_drops_the_approximation():
    flat = np.full((64, 64, 3), 200, np.uint8)
    assert not recipe.w2d(flat, "db1", 5).any()  # no detail in a flat image
    edge = np.zeros((64, 64, 3), np.uint8)
    edge[:, 21:] = 255  # off the wavelet blocks
    wavelet = recipe.w2d(edge, "db1", 5)
    assert wavelet.dtype == np.uint8 and wavelet.shape == (64, 64)
    assert wavelet.max() > 100  # negative details wrap to high values, as np.uint8 did


def test_astronaut_gives_one_clean_face_and_a_blank_image_none(tmp_path: Path):
    bgr = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    faces = recipe.Recipe().clean_faces(bgr)
    assert len(faces) == 1
    (x, y, w, h), crop = faces[0]
    assert crop.shape == (h, w, 3) and 150 < x < 220 and 40 < y < 100
    assert recipe.Recipe().clean_faces(np.zeros((200, 200, 3), np.uint8)) == []
    assert recipe.Recipe().crops_of_file(tmp_path / "missing.jpg") == []
