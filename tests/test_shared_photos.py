"""Integration tests on the real shared photo set (skipped where it is absent).

The photos are read where they are (``celeb.config.paths().shared_photos``,
overridden by CELEB_SHARED_PHOTOS), never copied. These tests stay light: the
measurements live in bench/.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from celeb.cli import main
from celeb.config import DECODE_MAX_SIDE, IMAGE_SUFFIXES, PROJECT_ROOT
from celeb.engines.haar import FaceDetector
from celeb.engines.wavelets import face_features
from celeb.faces import TrainingSet
from celeb.images import mirrored, read_image
from celeb.model import load_bundle
from celeb.model_search import train_best_model
from celeb.names import slugify

SHIPPED_MODEL = PROJECT_ROOT / "models" / "model.joblib"


def people(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.is_dir())


def photos_of(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)


def sample(shared: Path, per_person: int) -> list[Path]:
    """The first few raw photos of every person, by name: the same sample every run."""
    return [path for person in people(shared / "raw") for path in photos_of(person)[:per_person]]


def test_the_set_has_five_people(shared_photos: Path):
    names = [p.name for p in people(shared_photos / "raw")]
    assert names == ["lionel_messi", "maria_sharapova", "roger_federer", "serena_williams", "virat_kohli"]
    assert [p.name for p in people(shared_photos / "curated-crops")] == names


def test_every_raw_photo_decodes(shared_photos: Path):
    files = [path for person in people(shared_photos / "raw") for path in sorted(person.iterdir())]
    assert len(files) > 250
    failures, formats = [], set()
    for path in files:
        try:
            photo = read_image(path)  # at full size: every pixel of every photo is decoded
        except Exception as exc:  # any exception is a failure to report, with its file
            failures.append(f"{path.relative_to(shared_photos)}: {type(exc).__name__}: {exc}")
            continue
        assert photo.rgb.dtype == np.uint8 and photo.rgb.ndim == 3 and photo.rgb.shape[2] == 3
        assert photo.original_size == (photo.rgb.shape[1], photo.rgb.shape[0])
        formats.add(photo.format)
    assert failures == []
    assert {"JPEG", "PNG", "WEBP"} <= formats


def test_faces_with_two_eyes_in_most_sampled_photos(shared_photos: Path):
    detector = FaceDetector()
    sampled = sample(shared_photos, 2)
    assert len(sampled) == 10
    with_clean_face = 0
    for path in sampled:
        photo = read_image(path, max_side=DECODE_MAX_SIDE)
        faces = detector.detect(photo.rgb)
        height, width = photo.rgb.shape[:2]
        for face in faces:
            box = face.box
            assert box.x >= 0 and box.y >= 0 and box.x + box.w <= width and box.y + box.h <= height
        areas = [face.box.area for face in faces]
        assert areas == sorted(areas, reverse=True)
        with_clean_face += any(face.eyes_found for face in faces)
    assert with_clean_face >= 4, f"only {with_clean_face} of 10 photos have a face with two eyes"


def test_small_training_on_curated_crops(shared_photos: Path):
    rows, labels, groups, copies = [], [], [], []
    for person in people(shared_photos / "curated-crops"):
        for path in photos_of(person)[:8]:
            crop = read_image(path).rgb
            for copy, image in enumerate((crop, mirrored(crop))):
                rows.append(face_features(image))
                labels.append(person.name)
                groups.append(path.name)
                copies.append(bool(copy))
    data = TrainingSet(
        np.asarray(rows), np.asarray(labels, dtype=object), np.asarray(groups), np.asarray(copies)
    )
    result = train_best_model(data, models=["svm_linear"], folds=3)
    assert result.classes == [p.name for p in people(shared_photos / "curated-crops")]
    assert result.test_size == 10
    assert result.confusion.shape == (5, 5)
    assert result.test_accuracy >= 0.4  # chance is 0.2


@pytest.fixture(scope="module")
def shipped_model() -> Path:
    if not SHIPPED_MODEL.is_file():
        pytest.skip(f"no shipped model at {SHIPPED_MODEL}")
    return SHIPPED_MODEL


def test_shipped_model_knows_the_five_people(shipped_model: Path, shared_photos: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # made with the pinned scikit-learn: no version warning
        bundle = load_bundle(shipped_model)
    assert len(bundle.classes) == 5
    assert {slugify(name) for name in bundle.classes} == {p.name for p in people(shared_photos / "raw")}
    assert bundle.test_accuracy is not None and 0.0 <= bundle.test_accuracy <= 1.0


def test_shipped_model_classifies_raw_photos(shipped_model: Path, shared_photos: Path, capsys):
    bundle = load_bundle(shipped_model)
    classes = set(bundle.classes)
    # An open-set model also says how far each face is from the people it knows.
    keys = {"box", "person", "probability", "probabilities", "clean"}
    if bundle.gallery is not None:
        keys |= {"distance", "distances"}
    sampled = sample(shared_photos, 2)
    code = main(["classify", "--json", "--model", str(shipped_model), *map(str, sampled)])
    out = capsys.readouterr().out
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [record["file"] for record in records] == [str(path) for path in sampled]
    found = 0
    for record in records:
        assert set(record) == {"file", "error", "faces"}
        assert record["error"] is None
        for face in record["faces"]:
            # "why" only where a face got no name.
            assert set(face) == keys | ({"why"} if face["person"] is None else set())
            if bundle.gallery is not None:
                assert set(face["distances"]) == classes
                assert face["distance"] == min(face["distances"].values())
            assert face["person"] is None or face["person"] in classes
            assert set(face["probabilities"]) == classes
            if face["person"] is not None:  # the named person's probability
                assert face["probability"] == face["probabilities"][face["person"]]
            elif bundle.gallery is not None:
                assert face["probability"] is None  # unknown: the distances decided
            else:
                assert face["probability"] == max(face["probabilities"].values())
            found += 1
    assert found >= 5


def test_a_wrong_person_among_a_persons_crops_is_flagged_first(shared_photos: Path, tmp_path: Path):
    """Issue 19: Find faces on Virat Kohli's raw photos keeps a crop of Anushka Sharma (the photo
    b24633ff69.jpg); curation flags it as maybe someone else, from distances, and shows it first."""
    from celeb.curation import SOMEONE_ELSE, flag_crops, flagged_first
    from celeb.dataset import DatasetStore

    store = DatasetStore(tmp_path / "data")
    store.add_person("Virat Kohli")
    store.add_files("Virat Kohli", photos_of(shared_photos / "raw" / "virat_kohli"))
    store.find_faces()
    crops = store.crops("Virat Kohli", status="kept")
    (anushka,) = [crop for crop in crops if crop.photo_filename == "b24633ff69.jpg"]
    flags = flag_crops(crops)
    assert [flag.kind for flag in flags[anushka.record.id]] == [SOMEONE_ELSE]
    someone_else = [c for c in crops if any(f.kind == SOMEONE_ELSE for f in flags.get(c.record.id, []))]
    assert len(someone_else) <= len(crops) // 4  # worth a look, not every other crop
    first = flagged_first(crops, flags)[: len(someone_else)]
    assert {c.record.id for c in first} == {c.record.id for c in someone_else}


def test_a_group_photo_names_each_person_once(shared_photos: Path):
    """Issue 19: in this photo (of Maria Sharapova's) Andy Roddick and Will Ferrell stood beside Roger
    Federer and all three were named Roger Federer. A person is now named once at most."""
    from celeb.classify import Classifier

    bundle = load_bundle(SHIPPED_MODEL)
    photo = shared_photos / "raw" / "maria_sharapova" / "gettyimages-90174893-e1435455524320.jpg"
    faces = Classifier(bundle).classify(photo).faces
    assert len(faces) >= 3
    names = [face.person for face in faces if face.person]
    assert len(names) == len(set(names)) and names.count("Roger Federer") <= 1
