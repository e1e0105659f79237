"""Tests for celeb.faces (boxes) and the classic engine's haar faces and crops and wavelet features."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from celeb.engines.haar import DetectorSettings, FaceDetector, _clip, crop_face
from celeb.engines.wavelets import FeatureSettings, face_features, wavelet_image
from celeb.faces import Box, Face
from celeb.images import mirrored

#: Where the astronaut's face is (measured with the default settings).
ASTRONAUT_FACE = Box(177, 67, 93, 93)


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


@pytest.fixture(scope="module")
def astronaut_face(astronaut: np.ndarray, detector: FaceDetector) -> Face:
    faces = detector.detect(astronaut)
    assert len(faces) == 1
    return faces[0]


def upscaled(rgb: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement: shrinking it back by ``factor`` gives ``rgb`` exactly."""
    return np.ascontiguousarray(np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1))


# --------------------------------------------------------------------------- Box


def test_box_area_center_and_list():
    box = Box(10, 20, 30, 40)
    assert box.area == 1200
    assert box.center == (25.0, 40.0)
    assert box.as_list() == [10, 20, 30, 40]


@pytest.mark.parametrize(
    ("factor", "expected"),
    [
        (2, Box(20, 40, 60, 80)),
        (0.5, Box(5, 10, 15, 20)),
        (1 / 3, Box(3, 7, 10, 13)),
        (1, Box(10, 20, 30, 40)),
    ],
)
def test_box_scaled_rounds_each_value(factor, expected):
    assert Box(10, 20, 30, 40).scaled(factor) == expected


def test_box_scaled_returns_ints():
    scaled = Box(7, 9, 11, 13).scaled(1.7)
    assert all(type(value) is int for value in scaled.as_list())


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (Box(0, 0, 10, 10), Box(0, 0, 10, 10), 1.0),
        (Box(0, 0, 10, 10), Box(20, 20, 10, 10), 0.0),
        (Box(0, 0, 10, 10), Box(10, 0, 10, 10), 0.0),  # touching edges share no area
        (Box(0, 0, 10, 10), Box(5, 0, 10, 10), 50 / 150),
        (Box(0, 0, 10, 10), Box(0, 0, 5, 5), 25 / 100),
        (Box(0, 0, 0, 0), Box(0, 0, 0, 0), 0.0),  # no area, no division by zero
    ],
)
def test_box_iou(a, b, expected):
    assert a.iou(b) == pytest.approx(expected)
    assert b.iou(a) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        (Box(10, 10, 20, 20), Box(10, 10, 20, 20)),  # inside: unchanged
        (Box(90, 40, 20, 20), Box(90, 40, 10, 10)),  # over the right and bottom edges
        (Box(0, 0, 100, 50), Box(0, 0, 100, 50)),  # exactly the image
    ],
)
def test_clip_keeps_boxes_inside_the_image(box, expected):
    assert _clip(box, (50, 100, 3)) == expected


def test_clip_cuts_a_box_that_starts_before_the_image():
    assert _clip(Box(-10, -5, 50, 30), (50, 100)) == Box(0, 0, 40, 25)


def test_eyes_found_needs_two_eyes_and_a_face_scales_with_its_eyes():
    eyes = (Box(12, 14, 4, 4), Box(24, 14, 4, 4))
    face = Face(Box(10, 10, 20, 20), eyes)
    assert face.eyes_found
    assert not Face(Box(10, 10, 20, 20)).eyes_found
    assert not Face(Box(10, 10, 20, 20), eyes[:1]).eyes_found
    assert face.scaled(2) == Face(Box(20, 20, 40, 40), (Box(24, 28, 8, 8), Box(48, 28, 8, 8)))


# --------------------------------------------------------------------------- detection


def test_astronaut_has_one_face_with_its_eyes_found_inside(astronaut_face: Face):
    face = astronaut_face
    assert face.box.iou(ASTRONAUT_FACE) > 0.8
    assert face.eyes_found
    left, right = face.eyes
    assert left.center[0] < right.center[0]
    box = face.box
    for eye in face.eyes:
        assert box.x <= eye.x and eye.x + eye.w <= box.x + box.w
        assert box.y <= eye.y and eye.y + eye.h <= box.y + box.h
        assert eye.center[1] < box.y + box.h * 0.6  # in the upper part of the face


def test_detect_accepts_grayscale(astronaut: np.ndarray, astronaut_face: Face, detector: FaceDetector):
    import cv2

    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    assert detector.detect(gray) == [astronaut_face]


def test_detect_does_not_modify_the_photo(astronaut: np.ndarray, detector: FaceDetector):
    photo = astronaut.copy()
    detector.detect(photo)
    np.testing.assert_array_equal(photo, astronaut)


@pytest.mark.parametrize("kind", ["black", "gray", "noise"])
def test_no_face_in_blank_or_noise(kind: str, detector: FaceDetector):
    if kind == "noise":
        rgb = np.random.default_rng(1).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    else:
        rgb = np.full((240, 320, 3), 0 if kind == "black" else 128, np.uint8)
    assert detector.detect(rgb) == []


def test_tiny_image_has_no_face(detector: FaceDetector):
    assert detector.detect(np.zeros((10, 10, 3), np.uint8)) == []


def test_largest_face_first(astronaut: np.ndarray, detector: FaceDetector):
    import cv2

    head = np.ascontiguousarray(astronaut[30:220, 140:310])
    canvas = np.full((600, 900, 3), 128, np.uint8)
    # The small face on the left, the large one on the right: order is by size, not place.
    canvas[150:340, 60:230] = cv2.resize(head, (170, 190), interpolation=cv2.INTER_AREA)
    canvas[100:480, 530:870] = cv2.resize(head, (340, 380), interpolation=cv2.INTER_LINEAR)
    faces = detector.detect(canvas)
    areas = [face.box.area for face in faces]
    assert areas == sorted(areas, reverse=True)
    clean = [face for face in faces if face.eyes_found]
    assert len(clean) == 2
    big, small = clean
    assert faces[0] is big
    assert big.box.area > small.box.area * 3
    assert 530 <= big.box.center[0] <= 870 and 100 <= big.box.center[1] <= 480
    assert 60 <= small.box.center[0] <= 230 and 150 <= small.box.center[1] <= 340


def test_boxes_map_back_to_full_resolution(astronaut: np.ndarray, astronaut_face: Face):
    big = upscaled(astronaut, 4)  # 2048 px: searched on a reduced copy
    # At max_side=512 the reduced copy is exactly the 1x photo: boxes are exactly 4x.
    exact = FaceDetector(DetectorSettings(max_side=512)).detect(big)
    assert [face.box for face in exact] == [astronaut_face.box.scaled(4)]
    assert exact[0].eyes_found
    for eye in exact[0].eyes:  # eyes are searched at full resolution, inside the mapped box
        assert exact[0].box.x <= eye.x < exact[0].box.x + exact[0].box.w
    # At the default 640 px the copy differs a little: the face is still where 4x says.
    default = FaceDetector().detect(big)
    best = max(default, key=lambda face: face.box.iou(astronaut_face.box.scaled(4)))
    assert best.box.iou(astronaut_face.box.scaled(4)) > 0.8
    assert best.eyes_found


def test_detector_settings_are_kept():
    settings = DetectorSettings(max_side=320, min_neighbors=3)
    assert FaceDetector(settings).settings is settings
    assert FaceDetector().settings == DetectorSettings()


def test_detect_from_threads_gives_the_same_result(small_astronaut: np.ndarray):
    expected = FaceDetector().detect(small_astronaut)
    assert len(expected) == 1 and expected[0].eyes_found
    shared = FaceDetector()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(shared.detect, [small_astronaut] * 8))
    assert results == [expected] * 8


# --------------------------------------------------------------------------- crops


@pytest.mark.parametrize("size", [128, 64])
def test_crop_of_a_clean_face(astronaut: np.ndarray, astronaut_face: Face, size: int):
    crop = crop_face(astronaut, astronaut_face, size)
    assert crop.shape == (size, size, 3)
    assert crop.dtype == np.uint8
    assert crop.std() > 20  # a face, not a flat colour


@pytest.mark.parametrize("align", [True, False])
def test_crop_of_a_face_without_eyes(astronaut: np.ndarray, align: bool):
    crop = crop_face(astronaut, Face(ASTRONAUT_FACE), 128, align=align)
    assert crop.shape == (128, 128, 3)
    assert crop.dtype == np.uint8
    assert crop.std() > 20


def test_crop_of_a_face_at_the_photo_edge_fills_the_square():
    rgb = np.random.default_rng(0).integers(0, 256, (100, 100, 3), dtype=np.uint8)
    crop = crop_face(rgb, Face(Box(0, 0, 30, 30)), 96)
    assert crop.shape == (96, 96, 3)
    assert crop.dtype == np.uint8


def test_crop_does_not_depend_on_the_photo_resolution(astronaut: np.ndarray, astronaut_face: Face):
    one = crop_face(astronaut, astronaut_face, 128).astype(np.int16)
    two = crop_face(upscaled(astronaut, 2), astronaut_face.scaled(2), 128).astype(np.int16)
    assert np.abs(one - two).mean() < 8


def test_align_false_ignores_the_eyes(astronaut: np.ndarray, astronaut_face: Face):
    unaligned = crop_face(astronaut, astronaut_face, 128, align=False)
    np.testing.assert_array_equal(unaligned, crop_face(astronaut, Face(astronaut_face.box), 128))


# --------------------------------------------------------------------------- features


def test_feature_vector_shape_dtype_and_range(astronaut: np.ndarray, astronaut_face: Face):
    vector = face_features(crop_face(astronaut, astronaut_face, 128))
    assert vector.shape == (4096,)
    assert vector.dtype == np.float32
    assert vector.min() >= 0.0 and vector.max() <= 1.0
    assert vector.std() > 0.01


def test_features_are_deterministic_and_leave_the_crop_alone(astronaut: np.ndarray, astronaut_face: Face):
    crop = crop_face(astronaut, astronaut_face, 128)
    before = crop.copy()
    first, second = face_features(crop), face_features(crop)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(crop, before)


@pytest.mark.parametrize("shape", [(128, 128, 3), (37, 53, 3), (4, 4, 3), (300, 200, 3)])
def test_any_crop_size_gives_the_same_length(shape):
    crop = np.random.default_rng(2).integers(0, 256, shape, dtype=np.uint8)
    vector = face_features(crop)
    assert vector.shape == (4096,)
    assert vector.dtype == np.float32


def test_uniform_crop_has_its_colour_and_no_edges():
    vector = face_features(np.full((64, 64, 3), 128, np.uint8))
    np.testing.assert_array_equal(vector[:3072], np.float32(128 / 255))
    np.testing.assert_array_equal(vector[3072:], 0.0)


def test_feature_settings_size_sets_the_length():
    settings = FeatureSettings(size=16)
    assert settings.length == 1024
    assert face_features(np.zeros((50, 50, 3), np.uint8), settings).shape == (1024,)


def test_equalize_changes_a_low_contrast_crop():
    rng = np.random.default_rng(3)
    crop = (100 + rng.integers(0, 20, (64, 64, 3))).astype(np.uint8)
    plain = face_features(crop)
    equalized = face_features(crop, FeatureSettings(equalize=True))
    assert equalized.shape == plain.shape
    assert equalized[:3072].std() > plain[:3072].std() * 2


def test_wavelet_image_shape_and_dtype():
    rgb = np.random.default_rng(4).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    edges = wavelet_image(rgb)
    assert edges.shape == (37, 53)
    assert edges.dtype == np.uint8


def test_wavelet_image_sees_edges_not_flat_areas():
    flat = wavelet_image(np.full((64, 64, 3), 200, np.uint8))
    np.testing.assert_array_equal(flat, 0)
    step = np.zeros((64, 64, 3), np.uint8)
    step[:, 20:] = 255  # a vertical edge (not on a block boundary of the haar wavelet)
    edges = wavelet_image(step, "db1", 5)
    assert edges.max() > 50
    assert edges[:, 18:22].mean() > edges[:, 56:].mean()


def test_wavelet_image_of_a_tiny_image():
    edges = wavelet_image(np.zeros((2, 3, 3), np.uint8))
    assert edges.shape == (2, 3)


def test_mirrored_flips_left_to_right():
    crop = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    before = crop.copy()
    flipped = mirrored(crop)
    np.testing.assert_array_equal(flipped, crop[:, ::-1])
    np.testing.assert_array_equal(flipped[0, 0], [6, 7, 8])
    assert flipped.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(crop, before)
    np.testing.assert_array_equal(mirrored(flipped), crop)


def test_feature_settings_round_trip():
    settings = FeatureSettings(size=24, wavelet="haar", level=3, crop_size=96, align=False, equalize=True)
    values = settings.as_dict()
    assert values == {
        "size": 24,
        "wavelet": "haar",
        "level": 3,
        "crop_size": 96,
        "align": False,
        "equalize": True,
    }
    assert FeatureSettings.from_dict(values) == settings
    assert FeatureSettings.from_dict(FeatureSettings().as_dict()) == FeatureSettings()


def test_feature_settings_from_dict_ignores_unknown_keys_and_fills_defaults():
    assert FeatureSettings.from_dict({"size": 16, "colour": "blue"}) == FeatureSettings(size=16)
    assert FeatureSettings.from_dict({}) == FeatureSettings()
