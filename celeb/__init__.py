"""Recognise a handful of people in photos: the engine library (no Streamlit).

The few names an app or a script needs are here, each imported on first use,
so ``import celeb`` costs nothing and scikit-learn is loaded only by training
or classifying::

    read_image         a photo file or bytes as RGB          (celeb.images)
    get_engine         a face engine: find, crop, describe   (celeb.engines)
    DatasetStore       people, photos and crops in a folder  (celeb.dataset)
    train_best_model   pick and fit the best classifier      (celeb.train)
    train_from_store   a model bundle from a store's crops   (celeb.training)
    Classifier         name the faces in a photo             (celeb.classify)
    ModelRegistry      the active model and its history      (celeb.registry)
    CelebError         every error the library raises        (celeb.errors)

>>> import tempfile
>>> import celeb
>>> store = celeb.DatasetStore(tempfile.mkdtemp())
>>> store.add_person("Serena Williams").slug
'serena_williams'
>>> issubclass(celeb.DatasetError, celeb.CelebError)
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .classify import Classifier
    from .dataset import DatasetStore
    from .engines import get_engine
    from .errors import CelebError, DatasetError, ImageError
    from .images import read_image
    from .registry import ModelRegistry
    from .train import train_best_model
    from .training import train_from_store

#: Each exported name and the module it comes from.
_HOMES = {
    "read_image": "images",
    "get_engine": "engines",
    "DatasetStore": "dataset",
    "train_best_model": "train",
    "train_from_store": "training",
    "Classifier": "classify",
    "ModelRegistry": "registry",
    "CelebError": "errors",
    "DatasetError": "errors",
    "ImageError": "errors",
}

__all__ = [
    "CelebError",
    "Classifier",
    "DatasetError",
    "DatasetStore",
    "ImageError",
    "ModelRegistry",
    "get_engine",
    "read_image",
    "train_best_model",
    "train_from_store",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'celeb' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value  # found directly next time
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
