"""Tests for celeb.evaluate: a photo's answer, and a model's figures over labelled photos.

`python -m celeb evaluate` on a folder of photos is tested with the command line (test_cli.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from celeb.classify import FacePrediction
from celeb.evaluate import Evaluation, PhotoOutcome, photo_answer
from celeb.faces import Box


def face(person: str | None, clean: bool = True) -> FacePrediction:
    return FacePrediction(Box(0, 0, 1, 1), person, 0.9, {person or "Ada": 0.9}, clean, np.zeros((1, 1, 3)))


def test_photo_answer_prefers_the_largest_clean_face():
    assert photo_answer([]) is None
    assert photo_answer([face("Bo", clean=False), face("Ada"), face("Zoë")]) == "Ada"
    assert photo_answer([face("Bo", clean=False), face("Ada", clean=False)]) == "Bo"
    assert photo_answer([face(None), face("Ada", clean=False)]) is None


def test_evaluation_figures():
    outcomes = [
        PhotoOutcome(Path("a1"), "Ada", "Ada"),
        PhotoOutcome(Path("a2"), "Ada", "Bo"),
        PhotoOutcome(Path("a3"), "Ada", None),
        PhotoOutcome(Path("b1"), "Bo", "Bo"),
        PhotoOutcome(Path("b2"), "Bo", None, error="damaged"),
    ]
    evaluation = Evaluation(["Ada", "Bo"], outcomes)
    assert evaluation.coverage == 3 / 5
    assert evaluation.confident_accuracy == 2 / 3
    assert evaluation.end_to_end_accuracy == 2 / 5
    assert evaluation.per_person()["Ada"] == {
        "photos": 3,
        "coverage": 2 / 3,
        "confident_accuracy": 0.5,
        "end_to_end_accuracy": 1 / 3,
    }
    rows, columns, matrix = evaluation.confusion()
    assert rows == ["Ada", "Bo"]
    assert columns == ["Ada", "Bo", "not sure"]
    assert matrix.tolist() == [[1, 1, 1], [0, 1, 1]]
    assert evaluation.as_json()["errors"] == [{"file": "b2", "error": "damaged"}]
    empty = Evaluation(["Ada"], [])
    assert (empty.coverage, empty.confident_accuracy, empty.end_to_end_accuracy) == (0.0, 0.0, 0.0)
