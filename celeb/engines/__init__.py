"""Face engines: how faces are found, cropped and turned into numbers, behind one registry.

Every engine does the same three things (detect, crop, featurise; see
``base.Engine``), so the dataset, training, the model file, the CLI and the
app work with any of them. One module per engine:

- ``embeddings`` (the default): a face detector (dlib's HOG, then MTCNN where
  HOG finds none; ``detectors.py``), dlib's 5-point alignment and its ResNet
  embedding; answers "unknown person" by distance.
- ``classic``: the recipe this project grew from: haar cascades and the
  two-eye rule, raw pixels stacked with a wavelet image.

A new engine is a module with an :class:`Engine` subclass and one entry in
:data:`ENGINES` (README: "Adding an engine").

>>> engine = get_engine("classic")
>>> engine.name, engine.feature_length
('classic', 4096)
>>> ENGINE_NAMES
('embeddings', 'classic')
"""

from __future__ import annotations

from typing import Any

from ..errors import CelebError
from .base import Engine, EngineUnavailable
from .classic import ClassicEngine
from .dlib_models import INSTALL
from .embeddings import EmbeddingsEngine

#: Every engine by name, the default first.
ENGINES: dict[str, type[Engine]] = {engine.name: engine for engine in (EmbeddingsEngine, ClassicEngine)}
DEFAULT_ENGINE = EmbeddingsEngine.name
#: The engine of models, crops and manifests stored before engines had names.
LEGACY_ENGINE = ClassicEngine.name
ENGINE_NAMES = tuple(ENGINES)
ENGINE_LABELS = {name: engine.label for name, engine in ENGINES.items()}
#: How to install every engine's packages.
ENABLE_ENGINES = INSTALL

__all__ = [
    "DEFAULT_ENGINE",
    "ENABLE_ENGINES",
    "ENGINES",
    "ENGINE_LABELS",
    "ENGINE_NAMES",
    "LEGACY_ENGINE",
    "ClassicEngine",
    "EmbeddingsEngine",
    "Engine",
    "EngineUnavailable",
    "engine_available",
    "get_engine",
]


def get_engine(name: str = DEFAULT_ENGINE, settings: dict[str, Any] | None = None) -> Engine:
    """The engine called ``name`` with stored ``settings`` (its defaults where missing).

    Raises :class:`EngineUnavailable` when its packages are not installed.
    """
    if name not in ENGINES:
        raise CelebError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINE_NAMES)}")
    return ENGINES[name].from_settings(settings)


def engine_available(name: str) -> bool:
    """Whether ``name`` can run here (its packages are installed)."""
    return name in ENGINES and ENGINES[name].available()
