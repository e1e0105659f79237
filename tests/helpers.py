"""Plain helpers the test files share (no fixtures: those are in conftest.py).

App tests have theirs in app_helpers.py, browser tests in e2e_harness.py.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.dummy import DummyClassifier

from celeb.classify import Classifier
from celeb.cli import main
from celeb.dataset import DatasetStore
from celeb.engines.wavelets import FeatureSettings
from celeb.errors import ImageError, InvalidNameError
from celeb.faces import TrainingSet
from celeb.images import read_image
from celeb.manifest import manifest_text
from celeb.model import ModelBundle, make_gallery
from celeb.model_search import train_best_model
from celeb.names import validate_name

#: Three people and their tints: the names of ``synthetic``'s feature rows, and the tinted people of
#: conftest.py's classic model (``bundle``).
PEOPLE = {"Ada": "red", "Bo": "blue", "Zoë": "green"}

# ---------------------------------------------------------------- names, photos, a store's files

HOSTILE_NAME = "<img src=x onerror=alert(1)>"


def slash_message() -> str:
    """What validate_name says today about a name with '/' in it."""
    try:
        validate_name("a/b")
    except InvalidNameError as exc:
        return str(exc)
    raise AssertionError("validate_name accepted 'a/b'")


#: What validate_name must say about '/' and '\': written out, not read from validate_name, so that the
#: refusal tests compare its message with the one users are meant to see.
SLASH_MESSAGE = "a name cannot contain '/' or '\\'"


def tiny_png(seed: int, size: int = 16) -> bytes:
    """A small PNG of random pixels: distinct bytes for every seed, no face."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def image_error(data: bytes) -> str:
    """The message read_image gives for bad bytes (what a skipped file must show)."""
    with pytest.raises(ImageError) as info:
        read_image(data)
    return str(info.value)


def manifest(store: DatasetStore) -> dict:
    """The records as manifest.json holds them (the folder's file; a database's, as one)."""
    if store.database is None:
        return json.loads(store.manifest_path.read_text(encoding="utf-8"))
    return json.loads(manifest_text(store.records()))


def all_files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file() or path.is_symlink()}


# ---------------------------------------------------------------- the command line


def run(capsys: pytest.CaptureFixture, *argv) -> tuple[int, str, str]:
    """``python -m celeb *argv`` in this process: its exit code, stdout and stderr."""
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- feature rows and models


def synthetic(
    photos: dict[str, int] | None = None, *, dim: int = 24, spread: float = 0.3, seed: int = 0
) -> TrainingSet:
    """Rows of well separated people; each photo gives a face and its mirrored copy."""
    photos = photos or dict.fromkeys(PEOPLE, 8)
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(42).normal(0.0, 1.0, (len(PEOPLE), dim))  # the same for every seed
    rows, labels, groups, copies = [], [], [], []
    for index, (person, count) in enumerate(photos.items()):
        centre = centres[index % len(PEOPLE)]
        for photo in range(count):
            face = centre + rng.normal(0, spread, dim)
            for copy, row in enumerate((face, face + rng.normal(0, spread / 3, dim))):
                rows.append(row)
                labels.append(person)
                groups.append(f"{person}-{photo}")
                copies.append(bool(copy))
    return TrainingSet(
        np.asarray(rows, np.float32),
        np.asarray(labels, dtype=object),
        np.asarray(groups),
        np.asarray(copies),
    )


def clusters(seed: int = 0) -> TrainingSet:
    """Three tight clusters of unit-ish vectors, 6 photos each: three people an embedding tells apart."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 128))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    rows = np.concatenate([centre + rng.normal(0, 0.02, (6, 128)) for centre in centres]).astype(np.float32)
    labels = np.repeat(np.array(["Ann", "Bob", "Cid"], dtype=object), 6)
    groups = np.array([f"photo{i}" for i in range(18)])
    return TrainingSet(rows, labels, groups, np.zeros(18, bool))


def cluster_classifier() -> Classifier:
    """A classifier of the three clusters' people, with their gallery."""
    data = clusters()
    bundle = ModelBundle(
        estimator=train_best_model(data, models=["logistic_regression"], folds=2, test_size=0.34).estimator,
        classes=["Ann", "Bob", "Cid"],
        gallery=make_gallery(data),
    )
    return Classifier(bundle)


def constant_bundle(answer: str, classes: tuple[str, ...] = ("Ann", "Zed"), when: str = "") -> ModelBundle:
    """A model that always answers ``answer`` with probability 1."""
    length = FeatureSettings().length
    features = np.zeros((len(classes), length), np.float32)
    estimator = DummyClassifier(strategy="constant", constant=answer).fit(features, list(classes))
    bundle = ModelBundle(estimator=estimator, classes=list(classes), metrics={"test_accuracy": 0.5})
    if when:
        bundle.trained_at = when
    return bundle
