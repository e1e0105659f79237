"""Engines compared on the same held-out photos: a photo with no face for an engine is a miss for it."""

from __future__ import annotations

import numpy as np
from helpers import synthetic

from celeb.model_search import PhotoScore, held_out_photos, score_photos, train_best_model


def test_a_photo_without_a_face_is_a_miss():
    held_out = {("Ann", "a1"), ("Ann", "a2"), ("Bob", "b1"), ("Bob", "b2")}
    faces = [
        ("Ann", "a1", "Ann"),  # right
        ("Bob", "b1", "Ann"),  # wrong
        ("Bob", "b2", "Bob"),  # right; a2: this engine kept no face of Ann there
    ]
    score = score_photos(held_out, faces)
    assert score == PhotoScore(photos=4, right=2, no_face=1)
    assert score.accuracy == 0.5
    # Scored on its own faces only, the same engine would look better: 2 of 3.
    assert sum(person == said for person, _, said in faces) / len(faces) > score.accuracy


def test_every_face_of_the_person_on_the_photo_must_be_right():
    held_out = {("Ann", "a1"), ("Bob", "shared")}
    faces = [("Ann", "a1", "Ann"), ("Ann", "a1", "Bob"), ("Bob", "shared", "Bob")]
    assert score_photos(held_out, faces) == PhotoScore(photos=2, right=1, no_face=0)


def test_a_photo_filed_under_two_people_counts_for_each():
    held_out = {("Ann", "group"), ("Bob", "group")}
    assert score_photos(held_out, [("Ann", "group", "Ann")]) == PhotoScore(2, 1, 1)


def test_faces_outside_the_held_out_photos_are_ignored_and_nothing_held_out_scores_zero():
    assert score_photos({("Ann", "a1")}, [("Ann", "a9", "Ann")]) == PhotoScore(1, 0, 1)
    assert score_photos(set(), []).accuracy == 0.0


def test_two_engines_scored_over_the_same_photos():
    """An engine that lost a held-out photo's face is scored over all of them, not just its own."""
    full = synthetic()
    photos = held_out_photos(full, 0.25)
    lost = sorted(photos)[0]
    partial = full.subset(full.groups != lost)  # this "engine" found no face on one held-out photo
    held_out = {(str(p), str(g)) for p, g in zip(full.labels, full.groups, strict=True) if g in photos}
    scores = []
    for data in (full, partial):
        result = train_best_model(data, models=["logistic_regression"], folds=2, test_photos=photos)
        assert {photo for _, photo, _ in result.test_faces} <= photos
        assert len(result.test_faces) == result.test_size
        scores.append(score_photos(held_out, result.test_faces))
    assert scores[0].photos == scores[1].photos == len(photos)
    assert scores[0].no_face == 0 and scores[1].no_face == 1
    assert scores[1].right <= len(photos) - 1
    assert np.isclose(scores[0].accuracy, 1.0)  # well separated people
