"""Tests for celeb.classify: the faces of a photo named by a model (Classifier, FacePrediction).

The model (conftest.py's ``bundle``) is trained on crops of tinted copies of scikit-image's
astronaut: Ada is red, Bo blue, Zoë green (helpers.PEOPLE).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import PEOPLE, image_error

from celeb.classify import Classifier, FacePrediction
from celeb.config import DECODE_MAX_SIDE
from celeb.errors import ImageError
from celeb.faces import Box
from celeb.model import ModelBundle


def test_classifier_names_each_person(bundle: ModelBundle, photos: dict[str, Path]):
    classifier = Classifier(bundle)
    assert classifier.threshold == 0.4
    for person in PEOPLE:
        result = classifier.classify(photos[person])
        assert result.photo.format == "JPEG"
        assert result.photo.original_size == (256, 256)
        (face,) = result.faces
        assert isinstance(face, FacePrediction)
        assert face.person == person
        assert face.best_guess == person
        assert face.clean is True
        assert face.crop.shape == (128, 128, 3) and face.crop.dtype == np.uint8
        assert list(face.probabilities) == sorted(
            face.probabilities, key=face.probabilities.get, reverse=True
        )
        assert set(face.probabilities) == set(PEOPLE)
        assert sum(face.probabilities.values()) == pytest.approx(1.0)
        assert face.probability == face.probabilities[person]
        assert 0.5 < face.probability < 1.0
        assert face.box.iou(Box(86, 30, 53, 53)) > 0.8


def test_classify_bytes_and_no_face(bundle: ModelBundle, photos: dict[str, Path]):
    classifier = Classifier(bundle)
    assert classifier.classify(photos["Bo"].read_bytes()).faces[0].person == "Bo"
    blank = classifier.classify(photos["blank"])
    assert blank.faces == []
    assert blank.photo.rgb.shape == (200, 300, 3)


def test_classify_refuses_a_non_image(bundle: ModelBundle, photos: dict[str, Path]):
    with pytest.raises(ImageError) as info:
        Classifier(bundle).classify(photos["text"])
    assert str(info.value) == image_error(b"not a photo")


def test_boxes_are_in_the_coordinates_of_the_stored_photo(
    bundle: ModelBundle, small_astronaut: np.ndarray, tint_image, encode_image
):
    rgb = tint_image(small_astronaut, "red", 7)
    big = np.ascontiguousarray(np.repeat(np.repeat(rgb, 8, axis=0), 8, axis=1))  # 2048 px
    assert big.shape[0] > DECODE_MAX_SIDE
    result = Classifier(bundle).classify(encode_image(big))
    assert result.photo.original_size == (2048, 2048)
    assert max(result.photo.rgb.shape) <= DECODE_MAX_SIDE
    small_box = Classifier(bundle).classify(encode_image(rgb)).faces[0].box
    best = max(result.faces, key=lambda face: face.box.iou(small_box.scaled(8)))
    assert best.box.iou(small_box.scaled(8)) > 0.8
    assert best.person == "Ada"


@pytest.mark.parametrize(("threshold", "person"), [(0.0, "Ada"), (0.5, "Ada"), (1.0, None)])
def test_threshold(bundle: ModelBundle, photos: dict[str, Path], threshold: float, person):
    (face,) = Classifier(bundle, threshold=threshold).classify(photos["Ada"]).faces
    assert face.person == person
    assert face.best_guess == "Ada"


def test_face_prediction_as_json():
    face = FacePrediction(
        box=Box(1, 2, 3, 4),
        person=None,
        probability=0.123456,
        probabilities={"Bo": 0.123456, "Ada": 0.1},
        clean=False,
        crop=np.zeros((2, 2, 3), np.uint8),
    )
    assert face.as_json() == {
        "box": [1, 2, 3, 4],
        "person": None,
        "probability": 0.1235,
        "probabilities": {"Bo": 0.1235, "Ada": 0.1},
        "clean": False,
    }
    assert face.best_guess == "Bo"


def test_a_face_without_two_eyes_needs_more_confidence():
    from celeb.classify import probable_person
    from celeb.config import UNCLEAN_EXTRA_CONFIDENCE

    odds = {"Ada": 0.5 + UNCLEAN_EXTRA_CONFIDENCE / 2, "Bo": 0.5 - UNCLEAN_EXTRA_CONFIDENCE / 2}
    assert probable_person(odds, True, 0.5) == "Ada"
    assert probable_person(odds, False, 0.5) is None


def test_a_faces_json_lists_its_best_few_people_whatever_their_number():
    """Issue 20: every person's probability and distance made 8 KB a face at 158 people."""
    from celeb.classify import FacePrediction
    from celeb.config import TOP_CANDIDATES
    from celeb.faces import Box

    people = [f"Person number {i:03d} with a long name" for i in range(300)]
    face = FacePrediction(
        Box(10, 20, 30, 40),
        None,
        0.01,
        {name: 1 / 300 for name in people},
        True,
        np.zeros((8, 8, 3), np.uint8),
        distance=0.61,
        distances={name: 0.61 + i / 1000 for i, name in enumerate(people)},
        why="farther than 0.52 from every known person (nearest: Person number 000 with a long name, 0.61)",
    )
    record = face.as_json()
    assert list(record["distances"]) == people[:TOP_CANDIDATES]
    assert len(record["probabilities"]) == TOP_CANDIDATES
    assert len(json.dumps(record)) <= 1500
