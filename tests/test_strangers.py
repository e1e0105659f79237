"""Meet the strangers: unknown faces grouped by who they look like (celeb/strangers.py), and
`sort` filing them under unknown/group-NN/ and unknown/others/."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import cluster_classifier, clusters, constant_bundle, run

from celeb.classify import FacePrediction
from celeb.faces import Box, Face
from celeb.model import ModelBundle, make_gallery
from celeb.sort.album import sort_photos
from celeb.sort.report import UNKNOWN
from celeb.sort.resume import STATE_FILE
from celeb.strangers import (
    LINK_FACTOR,
    METHODS,
    OTHERS,
    UnknownFace,
    group_faces,
    group_unknown,
    grouping_distance,
)


def scattered_clusters(seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """Three tight clusters of 8, 6 and 4 faces, then 5 faces far from everything."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 128))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    sizes = (8, 6, 4)
    rows = [centres[i] + rng.normal(0, 0.01, (size, 128)) for i, size in enumerate(sizes)]
    rows.append(rng.normal(0, 1, (5, 128)))
    truth = [i for i, size in enumerate(sizes) for _ in range(size)] + [OTHERS] * 5
    order = rng.permutation(len(truth))
    return np.concatenate(rows)[order], [truth[i] for i in order]


@pytest.mark.parametrize("method", METHODS)
def test_three_clusters_make_three_groups_largest_first_and_outliers_stay_others(method):
    vectors, truth = scattered_clusters()
    labels = group_faces(vectors, 0.5, method=method)
    assert labels == truth  # group 0 the largest (8), then 6, then 4; the scattered five are others
    assert group_faces(vectors, 0.5, method=method) == labels  # deterministic


def test_small_groups_and_groups_from_a_single_photo_are_others():
    vectors, truth = scattered_clusters()
    assert sorted(set(group_faces(vectors, 0.5, min_group=5))) == [OTHERS, 0, 1]
    # Every face of the 4-face cluster in one photo: two faces in a photo are two people.
    photos = [f"group{label}" if label == 2 else f"face{i}" for i, label in enumerate(truth)]
    assert sorted(set(group_faces(vectors, 0.5, photos=photos))) == [OTHERS, 0, 1]
    assert group_faces(np.zeros((0, 128)), 0.5) == []


def test_group_unknown_names_groups_so_that_they_sort_and_lists_their_photos():
    vectors, truth = scattered_clusters()
    faces = [UnknownFace(f"photo{i // 2}.jpg", i % 2, vector) for i, vector in enumerate(vectors)]
    groups = group_unknown(faces, 0.5)
    assert [group.name for group in groups] == ["group-01", "group-02", "group-03", "others"]
    assert [len(group.faces) for group in groups] == [8, 6, 4, 5]
    assert groups[0].photos == list(
        dict.fromkeys(f.photo for f, t in zip(faces, truth, strict=True) if t == 0)
    )


def test_the_grouping_distance_is_the_models_calibrated_unknown_person_distance():
    classifier = cluster_classifier()
    assert grouping_distance(classifier.bundle) == pytest.approx(
        LINK_FACTOR * classifier.bundle.gallery.threshold
    )
    assert grouping_distance(constant_bundle("Ann")) is None  # a classic model: no gallery


class StubEngine:
    """Finds one face whose features are a given vector."""

    def __init__(self, vector: np.ndarray) -> None:
        self.vector = vector

    def detect(self, rgb):
        return [Face(Box(0, 0, 8, 8), (Box(1, 1, 2, 2), Box(5, 1, 2, 2)))]

    def crop(self, rgb, face):
        return np.zeros((8, 8, 3), np.uint8)

    def features(self, crop):
        return self.vector


def test_an_embeddings_models_faces_carry_their_vector_but_not_in_json():
    classifier = cluster_classifier()
    vector = np.full(128, 5.0, np.float32)  # far from every known face
    classifier.engine = StubEngine(vector)
    [face] = classifier.classify_photo(SimpleNamespace(rgb=np.zeros((8, 8, 3), np.uint8), scale=1.0))
    assert face.unknown and np.array_equal(face.features, vector)
    assert "features" not in face.as_json()


# ---------------------------------------------------------------- sort


def embeddings_model(gallery_threshold: float) -> ModelBundle:
    """A model with a gallery, as an open-set engine's: its known people's faces lie
    ``gallery_threshold`` from their own others (``Gallery.threshold``)."""
    gallery = replace(make_gallery(clusters()), threshold=gallery_threshold)
    return replace(constant_bundle("Ann", ("Ann", "Bob", "Cid")), gallery=gallery)


class Strangers:
    """A classifier of an embeddings model: each photo's faces come from ``faces[photo bytes]``,
    a list of (person or None, vector); its unknown faces are grouped at ``threshold``."""

    def __init__(self, faces: dict[bytes, list], threshold: float = 0.5) -> None:
        self.faces = faces
        self.bundle = embeddings_model(threshold / LINK_FACTOR)

    def classify(self, data: bytes):
        found = [
            FacePrediction(Box(10 * i, 0, 8, 8), person, 0.9, {"Ann": 0.9}, True, None, 0.7, None, vector)
            for i, (person, vector) in enumerate(self.faces[data])
        ]
        return SimpleNamespace(faces=found)


@pytest.fixture
def stranger_album(tmp_path: Path, make_photo):
    """Three photos of stranger X, two of Y (one with X too, and with Ann), one of a lone face."""
    rng = np.random.default_rng(1)
    x, y, lone = (v / np.linalg.norm(v) for v in rng.normal(size=(3, 128)))

    def near(centre):
        return (centre + rng.normal(0, 0.01, 128)).astype(np.float32)

    album = tmp_path / "album"
    album.mkdir()
    faces = {}
    plan = {
        "x1.jpg": [(None, near(x))],
        "x2.jpg": [(None, near(x))],
        "x3.jpg": [(None, near(x))],
        "y1.jpg": [(None, near(y))],
        "xy.jpg": [("Ann", np.full(128, 3.0, np.float32)), (None, near(x)), (None, near(y))],
        "lone.jpg": [(None, near(lone))],
    }
    for seed, (name, found) in enumerate(plan.items()):
        data = make_photo("none", seed)
        (album / name).write_bytes(data)
        faces[data] = found
    return album, Strangers(faces)


def filed(dest: Path) -> set[str]:
    return {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()} - {
        STATE_FILE,
        "sorted.csv",
    }


def test_sort_files_unknown_faces_by_group_and_the_rest_under_others(tmp_path: Path, stranger_album):
    album, classifier = stranger_album
    dest = tmp_path / "sorted"
    report = sort_photos(album, dest, classifier)
    assert filed(dest) == {
        "Ann/xy.jpg",
        f"{UNKNOWN}/group-01/x1.jpg",
        f"{UNKNOWN}/group-01/x2.jpg",
        f"{UNKNOWN}/group-01/x3.jpg",
        f"{UNKNOWN}/group-01/xy.jpg",  # a photo with faces in two groups goes in both
        f"{UNKNOWN}/group-02/xy.jpg",
        f"{UNKNOWN}/group-02/y1.jpg",
        f"{UNKNOWN}/others/lone.jpg",
    }
    assert [(g.name, len(g.faces), len(g.photos)) for g in report.groups] == [
        ("group-01", 4, 4),
        ("group-02", 2, 2),
        ("others", 1, 1),
    ]
    rows = {row["photo"]: row["folders"] for row in csv.DictReader((dest / "sorted.csv").open())}
    assert rows["xy.jpg"] == "Ann; unknown/group-01; unknown/group-02"
    state = json.loads((dest / STATE_FILE).read_text())
    [xy] = [photo for photo in state["photos"] if photo["path"] == "xy.jpg"]
    assert len(xy["unknown_vectors"]) == 2 and all(isinstance(v, str) for v in xy["unknown_vectors"])


def test_a_resumed_run_regroups_every_unknown_face_and_removes_what_moved(
    tmp_path: Path, stranger_album, make_photo
):
    album, classifier = stranger_album
    dest = tmp_path / "sorted"
    (dest / "keep me").mkdir(parents=True)
    (dest / "keep me" / "note.txt").write_text("not celeb's")
    sort_photos(album, dest, classifier)
    # A second photo of the lone face: it now makes a group of two, found with the earlier run's vector.
    lone_vector = classifier.faces[(album / "lone.jpg").read_bytes()][0][1]
    data = make_photo("none", 50)
    (album / "lone again.jpg").write_bytes(data)
    classifier.faces[data] = [(None, lone_vector + 0.001)]
    report = sort_photos(album, dest, classifier)
    assert report.classified_now == 1
    assert [g.name for g in report.groups] == ["group-01", "group-02", "group-03"]
    files = filed(dest)
    assert {f"{UNKNOWN}/group-02/lone.jpg", f"{UNKNOWN}/group-02/lone again.jpg"} <= files
    assert not any(f.startswith(f"{UNKNOWN}/others") for f in files)  # the stale copy removed
    assert (dest / "keep me" / "note.txt").read_text() == "not celeb's"


def test_a_model_without_embeddings_keeps_the_flat_unknown_folder(tmp_path: Path, stranger_album):
    album, classifier = stranger_album
    for found in classifier.faces.values():
        found[:] = [(person, None) for person, _ in found]
    classifier.bundle = constant_bundle("Ann")  # a classic model: no gallery
    report = sort_photos(album, tmp_path / "out", classifier)
    assert report.groups == []
    assert f"{UNKNOWN}/xy.jpg" in filed(tmp_path / "out")


def test_the_sort_command_prints_a_line_per_group(capsys, monkeypatch, tmp_path: Path, stranger_album):
    import celeb.cli

    album, classifier = stranger_album
    monkeypatch.setattr(celeb.cli, "_classifier", lambda args: classifier)
    code, out, err = run(capsys, "sort", album, tmp_path / "sorted")
    assert code == 0, err
    assert "unknown faces: 2 groups of the same person (largest first)" in out
    assert "  unknown/group-01: 4 faces in 4 photos" in out
    assert "  unknown/group-02: 2 faces in 2 photos" in out
    assert "  unknown/others: 1 faces in 1 photos" in out
    assert "  Ann: 1 photos" in out and "unknown/group-01: 4 photos" not in out
