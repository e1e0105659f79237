"""What the pages read and write, cached per server: the dataset, the models, the active model.

The dataset and the models folder are opened read-only unless the session
is the owner's (see :mod:`celeb_app.access`). Loaded models and their
classifiers are shared between sessions and keyed by the model file's
mtime and size, so a newly saved model is used at once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from celeb.classify import Classifier
from celeb.config import DEFAULT_CONFIDENCE_THRESHOLD, paths
from celeb.dataset import DatasetStore
from celeb.engines import ENGINE_NAMES, engine_available
from celeb.errors import CelebError
from celeb.limits import Slots, usable_cores
from celeb.model import ModelBundle, load_bundle
from celeb.registry import ModelRegistry, ModelVersion
from celeb_app import access
from celeb_app.text import md


def store() -> DatasetStore:
    """The dataset in force (``CELEB_DATASET_DIR`` or ``dataset/``); read-only unless the owner asks."""
    return DatasetStore(paths().dataset, read_only=not access.is_owner())


def registry() -> ModelRegistry:
    """The models folder in force (``CELEB_MODELS_DIR`` or ``models/``); read-only unless the owner asks."""
    return ModelRegistry(paths().models, read_only=not access.is_owner())


@st.cache_resource(show_spinner=False)
def available_engines() -> tuple[str, ...]:
    """The engines installed here (the classic one always)."""
    return tuple(name for name in ENGINE_NAMES if engine_available(name))


@st.cache_resource(show_spinner=False)
def classify_slots() -> Slots:
    """Classifications running at once, over all sessions: one per core, the others queue."""
    return Slots(usable_cores())


@dataclass(frozen=True)
class ActiveModel:
    """The active model as loaded, with the file it came from."""

    bundle: ModelBundle
    version: ModelVersion
    warnings: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, int, int]:
        """Changes whenever the model file is replaced: use it in cache keys."""
        return (str(self.version.path), self.version.mtime_ns, self.version.size)


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def _load_bundle(path: str, mtime_ns: int, size: int) -> tuple[ModelBundle, tuple[str, ...]]:
    # Keyed by the file's mtime and size: a newly saved model is loaded at once.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bundle = load_bundle(Path(path))
    return bundle, tuple(str(w.message) for w in caught if issubclass(w.category, UserWarning))


def load_model(model_key: tuple[str, int, int]) -> ModelBundle:
    """The bundle of the model file ``model_key`` names (see ActiveModel.key), cached."""
    return _load_bundle(*model_key)[0]


def active_model() -> ActiveModel | None:
    """The active model, or None when there is none. A damaged file raises ModelError."""
    version = registry().active_version()
    if version is None:
        return None
    bundle, notes = _load_bundle(str(version.path), version.mtime_ns, version.size)
    return ActiveModel(bundle, version, notes)


def active_model_or_problem() -> tuple[ActiveModel | None, str]:
    """The active model, or None with why it cannot be loaded (markdown-safe; "" when there is none).

    For the pages that repair a broken model, the Train page (train a new
    one, make an earlier one active) and the Dataset page (curate the crops
    to train on): they say what is wrong and keep working without it.
    """
    try:
        return active_model(), ""
    except CelebError as exc:
        return None, md(str(exc).strip() or exc.__class__.__name__)


@st.cache_resource(max_entries=8, show_spinner=False)
def _classifier(path: str, mtime_ns: int, size: int, threshold: float, distance: float | None) -> Classifier:
    bundle, _ = _load_bundle(path, mtime_ns, size)
    return Classifier(bundle, threshold=threshold, distance_threshold=distance)


def classifier(
    model_key: tuple[str, int, int],
    threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
    distance: float | None = None,
) -> Classifier:
    """A classifier of the model file ``model_key`` names (see ActiveModel.key).

    Shared between sessions: a Classifier is thread-safe. ``distance``
    overrides an open-set model's calibrated unknown-person threshold.
    """
    distance = None if distance is None else round(float(distance), 3)
    return _classifier(*model_key, round(float(threshold), 3), distance)
