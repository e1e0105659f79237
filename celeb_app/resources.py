"""What the pages read and write, cached per server: the dataset, the models, the active model.

The dataset and the models folder are opened read-only unless the session
is the owner's (see :mod:`celeb_app.access`). Loaded models and their
classifiers are shared between sessions and keyed by the model file's
mtime and size, so a newly saved model is used at once.

The first page a visitor sees needs only the active model's card
(:func:`active_card`, read from ``models/model.json``): scikit-learn and
the model itself are loaded after that page is drawn (:func:`warm_up`), or
when a page needs them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from celeb import (
    DEFAULT_CONFIDENCE_THRESHOLD,
    ENGINE_NAMES,
    CelebError,
    ModelInfo,
    ModelRegistry,
    ModelVersion,
    Slots,
    StoreLocation,
    engine_available,
    get_engine,
    store_location,
    usable_cores,
)
from celeb_app import access
from celeb_app.text import md

if TYPE_CHECKING:  # these bring scikit-learn (1.5 s): imported when first used
    from celeb import Classifier, DatasetStore, ModelBundle


def location() -> StoreLocation:
    """Where the dataset and the models are kept: the database of ``[connections.celeb] url`` in
    Streamlit's secrets or of ``CELEB_DATABASE_URL``, else the folders (celeb.stores)."""
    return store_location(_secret_database_url())


def _secret_database_url() -> str | None:
    try:
        value = st.secrets.get("connections", {}).get("celeb", {}).get("url")
    except Exception:  # no secrets file, or one Streamlit cannot read: no URL there
        return None
    return str(value) if value else None


def store() -> DatasetStore:
    """The dataset in force (see :func:`location`); read-only unless the owner asks."""
    return location().open_dataset(read_only=not access.is_owner())


def registry() -> ModelRegistry:
    """The models in force (see :func:`location`); read-only unless the owner asks."""
    return location().open_models(read_only=not access.is_owner())


@st.cache_resource(show_spinner=False)
def available_engines() -> tuple[str, ...]:
    """The engines installed here (the classic one always)."""
    return tuple(name for name in ENGINE_NAMES if engine_available(name))


@st.cache_resource(show_spinner=False)
def classify_slots() -> Slots:
    """Classifications running at once, over all sessions: one per core, the others queue."""
    return Slots(usable_cores())


@dataclass(frozen=True)
class ActiveCard:
    """The active model's card (who it knows, how good, its engine), with the file it describes."""

    info: ModelInfo
    version: ModelVersion

    @property
    def key(self) -> tuple[str, int, int]:
        """Changes whenever the model file is replaced: use it in cache keys."""
        return (str(self.version.path), self.version.mtime_ns, self.version.size)


@dataclass(frozen=True)
class ActiveModel(ActiveCard):
    """The active model as loaded, with its card and the file it came from."""

    bundle: ModelBundle
    warnings: tuple[str, ...] = ()


@st.cache_resource(max_entries=4, show_spinner=False)
def _card(path: str, mtime_ns: int, size: int, read_only: bool) -> ModelInfo | None:
    return ModelRegistry(Path(path).parent, read_only=read_only).active_info()


def active_card() -> ActiveCard | None:
    """The active model's card, None when there is none; ModelError when it is damaged.

    Cheap: read from the card file next to the model, without loading the model.
    """
    version = registry().active_version()
    if version is None:
        return None
    info = _card(str(version.path), version.mtime_ns, version.size, not access.is_owner())
    return None if info is None else ActiveCard(info, version)


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def _load_bundle(path: str, mtime_ns: int, size: int) -> tuple[ModelBundle, tuple[str, ...]]:
    # Keyed by the file's mtime and size: a newly saved model is loaded at once.
    from celeb import read_bundle

    bundle, note = read_bundle(Path(path))
    return bundle, (note,) if note else ()


def load_model(model_key: tuple[str, int, int]) -> ModelBundle:
    """The bundle of the model file ``model_key`` names (see ActiveModel.key), cached."""
    return _load_bundle(*model_key)[0]


def active_model() -> ActiveModel | None:
    """The active model, or None when there is none. A damaged file raises ModelError."""
    card = active_card()
    if card is None:
        return None
    bundle, notes = _load_bundle(*card.key)
    return ActiveModel(card.info, card.version, bundle, notes)


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
def _classifier(path: str, mtime_ns: int, size: int, threshold: float, strictness: str | None) -> Classifier:
    from celeb import Classifier

    bundle, _ = _load_bundle(path, mtime_ns, size)
    return Classifier(bundle, threshold=threshold, strictness=strictness)


def classifier(
    model_key: tuple[str, int, int],
    threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
    strictness: str | None = None,
) -> Classifier:
    """A classifier of the model file ``model_key`` names (see ActiveModel.key).

    Shared between sessions: a Classifier is thread-safe. ``strictness`` picks another of an
    open-set model's fitted settings than the one saved with it.
    """
    return _classifier(*model_key, round(float(threshold), 3), strictness)


_warmed: set[str] = set()
_warming = threading.Lock()


#: The warm-up waits this long first: importing holds Python's lock, which would keep the
#: server from sending the page just drawn (measured: the first page took 0.9 s longer).
WARM_UP_DELAY_SECONDS = 1.5


def warm_up(card: ActiveCard) -> None:
    """Import what classifying needs (scikit-learn, 1.5 s) and make the engine's models, in a
    background thread, once per engine: called at the end of a page, so that neither that page
    nor the first photo waits for them."""
    with _warming:
        if card.info.engine in _warmed:
            return
        _warmed.add(card.info.engine)

    def load() -> None:
        time.sleep(WARM_UP_DELAY_SECONDS)
        try:
            import numpy as np

            # Scikit-learn (what unpickling the model needs) comes with the model's module.
            from celeb import Classifier, read_bundle  # noqa: F401

            # The engine's models are made on first use: one search of an empty picture makes them.
            get_engine(card.info.engine).detect(np.zeros((64, 64, 3), np.uint8))
        except Exception:  # the page that needs the engine says what is wrong
            return

    threading.Thread(target=load, name="celeb-warm-up", daemon=True).start()
