"""Names drawn on a photo stay readable: no label covers another, even in a tight group; the
whole-face images crops are reviewed by (checked on drawn photos where the face box is a white square)."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from celeb.draw import DOUBT, REVIEW_SIZE, SURE, Label, draw_boxes, face_view, label_rectangles, review_image
from celeb.errors import DatasetError
from celeb.faces import Box
from celeb.images import encode_png


def _intersect(a, b) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def _group(boxes: list[Box]) -> list[Label]:
    texts = [
        "1. lionel_messi 64%",
        "2. serena_williams 88%",
        "3. not sure",
        "4. unknown",
        "5. virat_kohli 71%",
    ]
    return [Label(box, text, SURE if "%" in text else DOUBT) for box, text in zip(boxes, texts, strict=False)]


@pytest.mark.parametrize(
    "boxes",
    [
        # Three faces side by side, closer than their names are wide (the photo).
        [Box(300, 200, 90, 90), Box(400, 210, 90, 90), Box(500, 205, 90, 90)],
        # Three faces stacked one above the other, at the top edge: no room above the first.
        [Box(100, 0, 80, 80), Box(110, 90, 80, 80), Box(105, 180, 80, 80)],
        # Five small faces in a row in a wide photo.
        [Box(80 + 110 * i, 300, 70, 70) for i in range(5)],
    ],
)
def test_labels_of_close_faces_never_cover_each_other(boxes):
    size = (800, 600)
    labels = _group(boxes)
    rects = label_rectangles(labels, size)
    assert all(rect is not None for rect in rects)
    for a, b in itertools.combinations(rects, 2):
        assert not _intersect(a, b), (a, b)
    for left, top, right, bottom in rects:  # inside the photo, so every name is whole
        assert 0 <= left < right <= size[0] and 0 <= top < bottom <= size[1]


def test_label_rectangles_are_where_the_names_are_drawn():
    labels = _group([Box(300, 200, 90, 90), Box(400, 210, 90, 90), Box(500, 205, 90, 90)])
    out = draw_boxes(np.zeros((600, 800, 3), np.uint8), labels)
    for label, (left, top, right, bottom) in zip(labels, label_rectangles(labels, (800, 600)), strict=True):
        patch = out[top:bottom, left:right].reshape(-1, 3)
        colours = {tuple(int(v) for v in pixel) for pixel in patch}
        assert label.color in colours and (255, 255, 255) in colours  # the label's fill and its white text


def test_labels_follow_the_boxes_on_a_reduced_copy():
    # Boxes measured on a 1600x1200 photo, drawn on its 800x600 copy: the labels sit by the scaled boxes.
    labels = [Label(Box(600, 400, 180, 180), "1. Ann 90%")]
    (left, _, _, bottom), *_ = label_rectangles(labels, (800, 600), original_size=(1600, 1200))
    assert bottom == 200 and left == 300  # just above the scaled box (300, 200), at its left edge


def test_a_label_without_text_has_no_rectangle():
    assert label_rectangles([Label(Box(10, 10, 40, 40))], (100, 100)) == [None]


# ---------------------------------------------------------------- review images


def drawn_photo(width: int, height: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """Black, with a grey ring (half the box's size) around a white face box."""
    rgb = np.zeros((height, width, 3), np.uint8)
    x, y, w, h = box
    rgb[max(0, y - h // 2) : y + h + h // 2, max(0, x - w // 2) : x + w + w // 2] = 128
    rgb[y : y + h, x : x + w] = 255
    return rgb


def white_share(view: np.ndarray) -> float:
    return float((view.min(axis=2) > 200).mean())


@pytest.mark.parametrize("box", [(100, 120, 50, 50), (0, 0, 50, 50), (250, 350, 50, 50)])
def test_face_view_shows_the_whole_face_with_a_margin(box):
    view = face_view(drawn_photo(300, 400, box), box)
    assert view.shape == (REVIEW_SIZE, REVIEW_SIZE, 3)
    # The face takes (1 / 1.8)² of the square: all of it, and no more (the margin is around it) ...
    assert white_share(view) == pytest.approx((1 / 1.8) ** 2, abs=0.03)
    # ... and the margin is the photo around the face (grey), moved inside the photo at its edges.
    if box == (100, 120, 50, 50):
        assert view.max(axis=2).min() > 0  # no black: the square holds the face and its ring only


def test_face_view_of_a_face_as_large_as_the_photo():
    view = face_view(drawn_photo(60, 60, (5, 5, 50, 50)), (5, 5, 50, 50), size=96)
    assert view.shape == (96, 96, 3)
    assert white_share(view) > 0.6


def test_review_image_reads_the_photo_reduced_and_falls_back_to_the_crop(tmp_path: Path):
    box = (1200, 900, 400, 400)  # in the photo as stored: 3000 x 2400, larger than it is decoded
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), drawn_photo(3000, 2400, box))
    crop = tmp_path / "crop.png"
    crop.write_bytes(encode_png(np.full((128, 128, 3), 7, np.uint8)))
    view = review_image(photo, box, crop)
    assert view.shape == (REVIEW_SIZE, REVIEW_SIZE, 3)
    assert white_share(view) == pytest.approx((1 / 1.8) ** 2, abs=0.03)
    photo.unlink()
    assert (review_image(photo, box, crop) == 7).all()  # the photo is gone: the crop itself
    crop.unlink()
    with pytest.raises(DatasetError, match="missing"):
        review_image(photo, box, crop)
